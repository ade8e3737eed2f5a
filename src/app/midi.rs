//! MIDI keyboards (midir; ALSA sequencer on Linux). A machine without MIDI support, or with no
//! keyboard plugged in, gets a message in the keys panel, never an error: the on-screen piano
//! and the computer keyboard still play.

use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;

use midir::{MidiInput, MidiInputConnection};

/// The MIDI input ports by name, or why there are none.
pub fn input_ports() -> Result<Vec<String>, String> {
    let midi = MidiInput::new("earworm").map_err(|e| format!("MIDI is unavailable here ({e})"))?;
    Ok(midi
        .ports()
        .iter()
        .filter_map(|p| midi.port_name(p).ok())
        .collect())
}

/// An open MIDI keyboard: its messages arrive on `messages` (the UI drains them each frame and
/// is woken for each).
pub struct MidiKeyboard {
    pub name: String,
    pub messages: Receiver<Vec<u8>>,
    _connection: MidiInputConnection<()>,
}

impl MidiKeyboard {
    pub fn open(name: &str, wake: Arc<dyn Fn() + Send + Sync>) -> Result<Self, String> {
        let mut midi =
            MidiInput::new("earworm").map_err(|e| format!("MIDI is unavailable here ({e})"))?;
        // Timing clock and active sensing would wake the UI for nothing.
        midi.ignore(midir::Ignore::All);
        let port = midi
            .ports()
            .into_iter()
            .find(|p| midi.port_name(p).ok().as_deref() == Some(name))
            .ok_or_else(|| format!("the MIDI device \"{name}\" is gone"))?;
        let (tx, messages) = mpsc::channel();
        let connection = midi
            .connect(
                &port,
                "earworm-keys",
                move |_stamp, message, _| {
                    let _ = tx.send(message.to_vec());
                    wake();
                },
                (),
            )
            .map_err(|e| format!("cannot open the MIDI device \"{name}\": {e}"))?;
        Ok(Self {
            name: name.to_string(),
            messages,
            _connection: connection,
        })
    }
}
