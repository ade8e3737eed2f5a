//! Playback with rodio: a song from the matched start, or your own recording. rodio mixes on
//! its own audio thread, so a busy UI does not make it stutter. The output device is opened on
//! first use, so a machine without speakers only loses playback, with a message.

use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub enum Playing {
    Song { path: PathBuf, title: String },
    Recording,
}

pub struct Player {
    output: Option<rodio::MixerDeviceSink>,
    player: Option<rodio::Player>,
    pub now: Option<Playing>,
    /// Length of what is playing, seconds.
    pub duration_s: f32,
}

impl Default for Player {
    fn default() -> Self {
        Self::new()
    }
}

impl Player {
    pub fn new() -> Self {
        Self {
            output: None,
            player: None,
            now: None,
            duration_s: 0.0,
        }
    }

    fn fresh_player(&mut self) -> Result<&rodio::Player, String> {
        if self.output.is_none() {
            let mut sink = rodio::DeviceSinkBuilder::open_default_sink()
                .map_err(|e| format!("no audio output: {e}"))?;
            sink.log_on_drop(false);
            self.output = Some(sink);
        }
        if let Some(old) = self.player.take() {
            old.stop();
        }
        let mixer = self.output.as_ref().expect("opened above").mixer();
        Ok(self.player.insert(rodio::Player::connect_new(mixer)))
    }

    /// Plays an audio file from `start_s`.
    pub fn play_file(
        &mut self,
        path: &Path,
        title: &str,
        start_s: f32,
        duration_s: f32,
    ) -> Result<(), String> {
        let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        match rodio::Decoder::try_from(file) {
            Ok(decoder) => self.fresh_player()?.append(decoder),
            // rodio's decoder lacks what ours has (Opus): decode the file ourselves, in mono
            // at its own rate.
            Err(rodio_error) => {
                let (samples, rate) = crate::audio::decode_file_native(path)
                    .map_err(|e| format!("cannot play {}: {rodio_error}; {e}", path.display()))?;
                let rate = std::num::NonZero::new(rate).ok_or("sample rate 0")?;
                let mono = std::num::NonZero::new(1u16).expect("1 is not zero");
                self.fresh_player()?
                    .append(rodio::buffer::SamplesBuffer::new(mono, rate, samples));
            }
        }
        let player = self.player.as_ref().ok_or("no player")?;
        // Seeking is best effort: some streams cannot seek; they play from the start then.
        let _ = player.try_seek(Duration::from_secs_f32(start_s.max(0.0)));
        player.play();
        self.now = Some(Playing::Song {
            path: path.to_path_buf(),
            title: title.to_string(),
        });
        self.duration_s = duration_s;
        Ok(())
    }

    /// Plays mono samples (the recording).
    pub fn play_samples(&mut self, samples: Vec<f32>, sample_rate: u32) -> Result<(), String> {
        let rate = std::num::NonZero::new(sample_rate).ok_or("sample rate 0")?;
        let channels = std::num::NonZero::new(1u16).expect("1 is not zero");
        self.duration_s = samples.len() as f32 / sample_rate as f32;
        let player = self.fresh_player()?;
        player.append(rodio::buffer::SamplesBuffer::new(channels, rate, samples));
        player.play();
        self.now = Some(Playing::Recording);
        Ok(())
    }

    pub fn toggle_pause(&self) {
        if let Some(p) = &self.player {
            if p.is_paused() {
                p.play();
            } else {
                p.pause();
            }
        }
    }

    pub fn is_paused(&self) -> bool {
        self.player.as_ref().is_some_and(|p| p.is_paused())
    }

    pub fn stop(&mut self) {
        if let Some(p) = self.player.take() {
            p.stop();
        }
        self.now = None;
    }

    pub fn seek(&self, seconds: f32) {
        if let Some(p) = &self.player {
            let _ = p.try_seek(Duration::from_secs_f32(seconds.max(0.0)));
        }
    }

    pub fn position_s(&self) -> f32 {
        self.player
            .as_ref()
            .map_or(0.0, |p| p.get_pos().as_secs_f32())
    }

    /// Clears the state once the queue has run out.
    pub fn tick(&mut self) {
        if self.player.as_ref().is_some_and(|p| p.empty()) {
            self.player = None;
            self.now = None;
        }
    }
}
