//! Playback with rodio: a song from the matched start, the matched region in a loop, your own
//! recording, or "hum vs song" (your recording in the song's key and timing, alternating with
//! or laid over the song). rodio mixes on its own audio thread, so a busy UI does not make it
//! stutter.
//!
//! Playback must start when clicked, so nothing slow happens on the click: the output is opened
//! on a thread when the player is made (starting an ALSA/PulseAudio stream can take a second),
//! and the selected song is decoded into memory in the background before anyone presses Play
//! ([`Player::prefetch`]); from memory a start position is exact and instant. Without an audio
//! device the player plays into a silent output that consumes samples in real time, so every
//! control (and the tests) still work.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

use rodio::buffer::SamplesBuffer;
use rodio::mixer::Mixer;
use rodio::Source;

#[derive(Debug, Clone, PartialEq)]
pub enum Playing {
    Song {
        path: PathBuf,
        title: String,
    },
    /// The matched region, over and over.
    Loop {
        path: PathBuf,
        title: String,
    },
    /// Your recording transposed and time-warped onto the song, then (or with) the song.
    HumVsSong {
        title: String,
        mixed: bool,
    },
    Recording,
}

/// Where sound goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The system's default output device.
    Device,
    /// Nowhere, at real-time pace (no audio hardware; tests).
    Silent,
}

/// A song decoded into memory (mono, its own rate).
pub struct Decoded {
    pub path: PathBuf,
    pub samples: Vec<f32>,
    pub rate: u32,
}

impl Decoded {
    fn region(&self, start_s: f32, end_s: f32) -> Vec<f32> {
        let at = |s: f32| ((s.max(0.0) * self.rate as f32) as usize).min(self.samples.len());
        self.samples[at(start_s)..at(end_s).max(at(start_s))].to_vec()
    }
}

/// "Hum vs song": the hum re-timed and transposed onto the matched region.
pub struct HumVsSong {
    pub path: PathBuf,
    pub title: String,
    /// The matched region of the song, seconds.
    pub start_s: f32,
    pub end_s: f32,
    /// The recording (mono, `rate` Hz).
    pub hum: Vec<f32>,
    pub rate: u32,
    /// (seconds into the region, seconds into the hum), increasing.
    pub map: Vec<(f32, f32)>,
    /// Semitones that bring the hum into the song's key.
    pub semitones: f32,
    /// Both together (true) or first your hum, then the song (false).
    pub mixed: bool,
}

/// A "hum vs song" ready to play: the song's region and the re-timed hum.
struct Warped {
    request: Box<HumVsSong>,
    region: Vec<f32>,
    song_rate: u32,
    hum: Vec<f32>,
}

/// What waits for its song to be decoded.
enum Wanted {
    Loop {
        title: String,
        start_s: f32,
        end_s: f32,
    },
    HumVsSong(Box<HumVsSong>),
}

type Opened = Result<Mixer, String>;

pub struct Player {
    mixer: Option<Opened>,
    opening: Option<Receiver<Opened>>,
    /// Dropping it ends the output thread (and closes the device).
    _keep_output: Sender<()>,
    player: Option<rodio::Player>,
    /// The hum layer of a mixed "hum vs song".
    layer: Option<rodio::Player>,
    pub now: Option<Playing>,
    /// Length of what is playing, seconds.
    pub duration_s: f32,
    /// Song time at the start of what is playing (buffers start at the chosen position).
    offset_s: f32,
    /// Length of a looped region: the position wraps.
    loop_s: Option<f32>,
    decoded: Option<Arc<Decoded>>,
    decoding: Option<(PathBuf, Receiver<Result<Decoded, String>>)>,
    wanted: Option<(PathBuf, Wanted)>,
    warping: Option<Receiver<Warped>>,
}

impl Default for Player {
    fn default() -> Self {
        Self::new(Output::Device)
    }
}

impl Player {
    pub fn new(output: Output) -> Self {
        let (keep, keep_rx) = mpsc::channel::<()>();
        let (tx, opening) = mpsc::channel();
        std::thread::Builder::new()
            .name("earworm-output".into())
            .spawn(move || run_output(output, &tx, &keep_rx))
            .expect("spawning a thread");
        Self {
            mixer: None,
            opening: Some(opening),
            _keep_output: keep,
            player: None,
            layer: None,
            now: None,
            duration_s: 0.0,
            offset_s: 0.0,
            loop_s: None,
            decoded: None,
            decoding: None,
            wanted: None,
            warping: None,
        }
    }

    /// The output's mixer, waiting for it to open if it has not yet (only a click in the
    /// first moment after start-up waits).
    fn mixer(&mut self) -> Result<Mixer, String> {
        if let Some(rx) = self.opening.take() {
            self.mixer = Some(
                rx.recv_timeout(Duration::from_secs(5))
                    .unwrap_or_else(|_| Err("the audio output did not open".into())),
            );
        }
        self.mixer
            .clone()
            .unwrap_or_else(|| Err("no audio output".into()))
    }

    /// Waits until the output is open; the error says why there is none.
    pub fn wait_ready(&mut self) -> Result<(), String> {
        self.mixer().map(|_| ())
    }

    fn fresh_player(&mut self) -> Result<&rodio::Player, String> {
        let mixer = self.mixer()?;
        self.stop();
        Ok(self.player.insert(rodio::Player::connect_new(&mixer)))
    }

    /// Decodes a song in the background so that playing it later starts at once.
    pub fn prefetch(&mut self, path: &Path) {
        let known = |p: &Path| p == path;
        if self.decoded.as_ref().is_some_and(|d| known(&d.path))
            || self.decoding.as_ref().is_some_and(|(p, _)| known(p))
        {
            return;
        }
        let (tx, rx) = mpsc::channel();
        let owned = path.to_path_buf();
        std::thread::spawn(move || {
            let decoded = crate::audio::decode_file_native(&owned)
                .map(|(samples, rate)| Decoded {
                    path: owned.clone(),
                    samples,
                    rate,
                })
                .map_err(|e| format!("cannot play {}: {e}", owned.display()));
            let _ = tx.send(decoded);
        });
        self.decoding = Some((path.to_path_buf(), rx));
    }

    /// Whether `path` is decoded in memory (played from there, it starts at once).
    pub fn is_prefetched(&self, path: &Path) -> bool {
        self.decoded_song(path).is_some()
    }

    /// The song in memory, if it is decoded.
    fn decoded_song(&self, path: &Path) -> Option<Arc<Decoded>> {
        self.decoded.clone().filter(|d| d.path == path)
    }

    /// Plays an audio file from `start_s`: from memory when prefetched, else streamed.
    pub fn play_file(
        &mut self,
        path: &Path,
        title: &str,
        start_s: f32,
        duration_s: f32,
    ) -> Result<(), String> {
        let start_s = start_s.max(0.0);
        if let Some(song) = self.decoded_song(path) {
            let rest = song.region(start_s, f32::MAX);
            self.start_buffer(rest, song.rate, start_s, None)?;
        } else {
            self.stream_file(path, start_s)?;
            self.prefetch(path);
        }
        self.now = Some(Playing::Song {
            path: path.to_path_buf(),
            title: title.to_string(),
        });
        self.duration_s = duration_s;
        Ok(())
    }

    /// Streams a file with rodio's decoder (seeking is best effort), or ours for what rodio
    /// cannot read (Opus).
    fn stream_file(&mut self, path: &Path, start_s: f32) -> Result<(), String> {
        let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        match rodio::Decoder::try_from(file) {
            Ok(decoder) => {
                let player = self.fresh_player()?;
                player.append(decoder);
                let _ = player.try_seek(Duration::from_secs_f32(start_s));
                player.play();
                self.offset_s = 0.0;
            }
            Err(rodio_error) => {
                let (samples, rate) = crate::audio::decode_file_native(path)
                    .map_err(|e| format!("cannot play {}: {rodio_error}; {e}", path.display()))?;
                let at = ((start_s * rate as f32) as usize).min(samples.len());
                self.start_buffer(samples[at..].to_vec(), rate, start_s, None)?;
            }
        }
        Ok(())
    }

    fn start_buffer(
        &mut self,
        samples: Vec<f32>,
        rate: u32,
        offset_s: f32,
        looped: Option<f32>,
    ) -> Result<(), String> {
        let source = mono_buffer(samples, rate)?;
        let player = self.fresh_player()?;
        match looped {
            Some(_) => player.append(source.repeat_infinite()),
            None => player.append(source),
        }
        player.play();
        self.offset_s = offset_s;
        self.loop_s = looped;
        Ok(())
    }

    /// Plays the region `start_s..end_s` of a song over and over (once it is decoded).
    pub fn play_loop(
        &mut self,
        path: &Path,
        title: &str,
        start_s: f32,
        end_s: f32,
    ) -> Result<(), String> {
        let wanted = Wanted::Loop {
            title: title.to_string(),
            start_s,
            end_s,
        };
        self.when_decoded(path, wanted)
    }

    /// Plays "hum vs song" (once the song is decoded).
    pub fn play_hum_vs_song(&mut self, request: HumVsSong) -> Result<(), String> {
        let path = request.path.clone();
        self.when_decoded(&path, Wanted::HumVsSong(Box::new(request)))
    }

    fn when_decoded(&mut self, path: &Path, wanted: Wanted) -> Result<(), String> {
        match self.decoded_song(path) {
            Some(song) => self.start_wanted(&song, wanted),
            None => {
                self.stop();
                self.prefetch(path);
                self.wanted = Some((path.to_path_buf(), wanted));
                Ok(())
            }
        }
    }

    fn start_wanted(&mut self, song: &Decoded, wanted: Wanted) -> Result<(), String> {
        match wanted {
            Wanted::Loop {
                title,
                start_s,
                end_s,
            } => {
                let region = song.region(start_s, end_s);
                let length = region.len() as f32 / song.rate as f32;
                self.start_buffer(region, song.rate, start_s, Some(length.max(0.01)))?;
                self.now = Some(Playing::Loop {
                    path: song.path.clone(),
                    title,
                });
                self.duration_s = end_s;
            }
            Wanted::HumVsSong(r) => {
                // Re-timing a recording takes tens of milliseconds: off the UI thread.
                let region = song.region(r.start_s, r.end_s);
                let rate = song.rate;
                let (tx, rx) = mpsc::channel();
                std::thread::spawn(move || {
                    let length = region.len() as f32 / rate as f32;
                    let hum =
                        crate::dsp::warp_and_transpose(&r.hum, r.rate, &r.map, r.semitones, length);
                    let _ = tx.send(Warped {
                        request: r,
                        region,
                        song_rate: rate,
                        hum,
                    });
                });
                self.stop();
                self.warping = Some(rx);
            }
        }
        Ok(())
    }

    fn start_hum_vs_song(&mut self, w: Warped) -> Result<(), String> {
        let r = w.request;
        let length = w.region.len() as f32 / w.song_rate as f32;
        let gain = loudness_match(&r.hum);
        let mixer = self.mixer()?;
        self.stop();
        let player = rodio::Player::connect_new(&mixer);
        if r.mixed {
            // The song a little lower, your hum over it.
            player.append(mono_buffer(w.region, w.song_rate)?.amplify(0.7));
            let layer = rodio::Player::connect_new(&mixer);
            layer.append(mono_buffer(w.hum, r.rate)?.amplify(gain));
            layer.play();
            self.layer = Some(layer);
            self.duration_s = r.start_s + length;
        } else {
            player.append(mono_buffer(w.hum, r.rate)?.amplify(gain));
            player.append(mono_buffer(w.region, w.song_rate)?);
            self.duration_s = r.start_s + 2.0 * length;
        }
        player.play();
        self.player = Some(player);
        self.offset_s = r.start_s;
        self.now = Some(Playing::HumVsSong {
            title: r.title,
            mixed: r.mixed,
        });
        Ok(())
    }

    /// Plays mono samples (the recording).
    pub fn play_samples(&mut self, samples: Vec<f32>, sample_rate: u32) -> Result<(), String> {
        self.duration_s = samples.len() as f32 / sample_rate as f32;
        self.start_buffer(samples, sample_rate, 0.0, None)?;
        self.now = Some(Playing::Recording);
        Ok(())
    }

    pub fn toggle_pause(&self) {
        for p in self.player.iter().chain(&self.layer) {
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
        for p in [self.player.take(), self.layer.take()]
            .into_iter()
            .flatten()
        {
            p.stop();
        }
        self.wanted = None;
        self.warping = None;
        self.loop_s = None;
        self.now = None;
    }

    /// Moves to `seconds` of the song (or recording).
    pub fn seek(&mut self, seconds: f32) {
        let seconds = seconds.max(0.0);
        if let Some(Playing::Song { path, title }) = self.now.clone() {
            if let Some(song) = self.decoded_song(&path) {
                // From memory: restart at the new position (exact, and instant).
                let duration = self.duration_s;
                let _ = self.start_buffer(song.region(seconds, f32::MAX), song.rate, seconds, None);
                self.now = Some(Playing::Song { path, title });
                self.duration_s = duration;
                return;
            }
        }
        if let Some(p) = &self.player {
            let _ = p.try_seek(Duration::from_secs_f32((seconds - self.offset_s).max(0.0)));
        }
    }

    /// Position in the song (or recording), seconds.
    pub fn position_s(&self) -> f32 {
        let played = self
            .player
            .as_ref()
            .map_or(0.0, |p| p.get_pos().as_secs_f32());
        let within = match self.loop_s {
            Some(length) => played % length,
            None => played,
        };
        self.offset_s + within
    }

    /// Whether something is waiting for its song to be decoded.
    pub fn is_preparing(&self) -> bool {
        self.wanted.is_some() || self.warping.is_some()
    }

    /// Call every frame: takes a finished decode (starting what waited for it) and clears the
    /// state once the queue has run out. Returns an error to show, if any.
    pub fn tick(&mut self) -> Option<String> {
        let mut problem = None;
        if let Some((path, rx)) = &self.decoding {
            match rx.try_recv() {
                Ok(Ok(song)) => {
                    self.decoded = Some(Arc::new(song));
                    self.decoding = None;
                }
                Ok(Err(e)) => {
                    if self.wanted.as_ref().is_some_and(|(w, _)| w == path) {
                        self.wanted = None;
                        problem = Some(e);
                    }
                    self.decoding = None;
                }
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => self.decoding = None,
            }
        }
        if let (Some(song), Some((path, _))) = (&self.decoded, &self.wanted) {
            if song.path == *path {
                let song = Arc::clone(song);
                let (_, wanted) = self.wanted.take().expect("checked above");
                problem = self.start_wanted(&song, wanted).err();
            }
        }
        if let Some(Ok(warped)) = self.warping.as_ref().map(|rx| rx.try_recv()) {
            self.warping = None;
            problem = self.start_hum_vs_song(warped).err();
        }
        if self.player.as_ref().is_some_and(|p| p.empty())
            && self.layer.as_ref().is_none_or(|p| p.empty())
        {
            self.player = None;
            self.layer = None;
            self.now = None;
        }
        problem
    }
}

fn mono_buffer(samples: Vec<f32>, rate: u32) -> Result<SamplesBuffer, String> {
    let rate = std::num::NonZero::new(rate).ok_or("sample rate 0")?;
    let mono = std::num::NonZero::new(1u16).expect("1 is not zero");
    Ok(SamplesBuffer::new(mono, rate, samples))
}

/// Gain that brings a recording's peak to a comfortable level beside a mastered song.
fn loudness_match(samples: &[f32]) -> f32 {
    let peak = samples.iter().fold(0.0f32, |p, x| p.max(x.abs()));
    (0.6 / peak.max(1e-3)).min(8.0)
}

/// Frames in the device buffer: ~43 ms at 48 kHz. The default can be a second or more (ALSA's
/// PulseAudio plugin), and whatever is appended waits behind a full buffer of silence.
const OUTPUT_BUFFER_FRAMES: u32 = 2048;

/// The default output with a small buffer, or with its own default where that fails.
fn open_low_latency() -> Result<rodio::MixerDeviceSink, rodio::DeviceSinkError> {
    rodio::DeviceSinkBuilder::from_default_device()
        .map(|b| b.with_buffer_size(cpal::BufferSize::Fixed(OUTPUT_BUFFER_FRAMES)))
        .and_then(|b| b.open_stream())
        .or_else(|e| {
            eprintln!("note: no low-latency audio output ({e}); using the device's default buffer");
            rodio::DeviceSinkBuilder::open_default_sink()
        })
}

/// Owns the output for the player's lifetime: opens it, hands over its mixer, and keeps it
/// until the player is dropped.
fn run_output(output: Output, opened: &Sender<Opened>, keep: &Receiver<()>) {
    match output {
        Output::Device => match open_low_latency() {
            Ok(mut sink) => {
                sink.log_on_drop(false);
                let _ = opened.send(Ok(sink.mixer().clone()));
                // Returns when the player is dropped.
                let _ = keep.recv();
            }
            Err(e) => {
                let _ = opened.send(Err(format!("no audio output: {e}")));
            }
        },
        Output::Silent => {
            const RATE: u32 = 44_100;
            let channels = std::num::NonZero::new(2u16).expect("2 is not zero");
            let rate = std::num::NonZero::new(RATE).expect("not zero");
            let (mixer, mut source) = rodio::mixer::mixer(channels, rate);
            let _ = opened.send(Ok(mixer));
            // Consume 10 ms of stereo samples every 10 ms, as a sound card would.
            let started = std::time::Instant::now();
            let mut consumed = 0u64;
            loop {
                match keep.recv_timeout(Duration::from_millis(10)) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                let due = started.elapsed().as_secs_f64() * RATE as f64 * 2.0;
                while (consumed as f64) < due {
                    let _ = source.next();
                    consumed += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone_file(dir: &Path, seconds: f32) -> PathBuf {
        let rate = 16_000;
        let samples: Vec<f32> = (0..(seconds * rate as f32) as usize)
            .map(|i| 0.3 * (std::f32::consts::TAU * 330.0 * i as f32 / rate as f32).sin())
            .collect();
        let path = dir.join("tone.wav");
        crate::audio::write_wav_mono(&path, &samples, rate).unwrap();
        path
    }

    fn wait_until(player: &mut Player, what: &str, done: impl Fn(&Player) -> bool) {
        let start = std::time::Instant::now();
        while !done(player) {
            assert!(start.elapsed() < Duration::from_secs(10), "{what}");
            player.tick();
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_prefetched_song_starts_at_once_where_asked_and_seeks_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = tone_file(dir.path(), 30.0);
        let mut p = Player::new(Output::Silent);
        p.wait_ready().unwrap();
        p.prefetch(&path);
        wait_until(&mut p, "decoded", |p| p.decoded_song(&path).is_some());
        p.play_file(&path, "tone", 10.0, 30.0).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let pos = p.position_s();
        assert!((10.15..10.6).contains(&pos), "position {pos}");
        p.seek(20.0);
        std::thread::sleep(Duration::from_millis(100));
        assert!((20.0..20.4).contains(&p.position_s()), "{}", p.position_s());
        p.stop();
        assert_eq!(p.now, None);
    }

    #[test]
    fn a_loop_wraps_inside_its_region_and_hum_vs_song_plays_both() {
        let dir = tempfile::tempdir().unwrap();
        let path = tone_file(dir.path(), 10.0);
        let mut p = Player::new(Output::Silent);
        p.play_loop(&path, "tone", 2.0, 2.5).unwrap();
        wait_until(&mut p, "loop started", |p| {
            matches!(p.now, Some(Playing::Loop { .. }))
        });
        std::thread::sleep(Duration::from_millis(800));
        let pos = p.position_s();
        assert!((2.0..2.5).contains(&pos), "looped position {pos}");
        assert!(p.now.is_some(), "a loop does not run out");
        let hum: Vec<f32> = (0..16_000).map(|i| 0.2 * (i as f32 * 0.1).sin()).collect();
        for mixed in [false, true] {
            p.play_hum_vs_song(HumVsSong {
                path: path.clone(),
                title: "tone".into(),
                start_s: 1.0,
                end_s: 1.4,
                hum: hum.clone(),
                rate: 16_000,
                map: vec![(0.0, 0.0), (0.4, 1.0)],
                semitones: -2.0,
                mixed,
            })
            .unwrap();
            wait_until(&mut p, "hum vs song started", |p| {
                matches!(p.now, Some(Playing::HumVsSong { .. }))
            });
            // The hum's 0.4 s, then the song's (or both at once): done within a second.
            wait_until(&mut p, "hum vs song ended", |p| p.now.is_none());
        }
    }
}
