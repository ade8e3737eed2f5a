//! Microphone capture. cpal's callback downmixes to mono straight into a lock-free ring buffer
//! (no locks, no allocation on the audio thread); the UI thread drains it every frame. A clip of
//! samples can stand in for the microphone, paced like a live device: the "example hum" button
//! and the UI tests record through exactly the same path.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SizedSample};

/// Seconds of audio the ring buffer holds between two UI frames (a stalled UI loses audio only
/// after this long).
const RING_SECONDS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("no microphone found: the system lists no audio input device")]
    NoDevice,
    #[error("the input device \"{0}\" is not connected")]
    DeviceGone(String),
    #[error("the microphone could not be opened: {0}")]
    Open(String),
}

/// An input device as the picker shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct InputDevice {
    /// cpal's stable id (what the settings remember).
    pub id: String,
    pub name: String,
}

/// Input devices of the default host; empty when there is no audio system at all.
pub fn input_devices() -> Vec<InputDevice> {
    let host = cpal::default_host();
    let Ok(devices) = host.input_devices() else {
        return Vec::new();
    };
    devices
        .filter_map(|d| {
            let id = d.id().ok()?.to_string();
            let name = d
                .description()
                .map(|desc| desc.name().to_string())
                .unwrap_or_else(|_| id.clone());
            // A device that cannot say how it records is not usable (ALSA's "null" device).
            d.default_input_config().ok()?;
            Some(InputDevice { id, name })
        })
        .collect()
}

/// A running capture: microphone or an injected clip.
pub struct Capture {
    consumer: rtrb::Consumer<f32>,
    pub sample_rate: u32,
    pub source_name: String,
    /// Samples the callback could not store because the UI did not drain the ring in time.
    dropped: Arc<AtomicUsize>,
    /// Set by an injected source when its clip has been delivered completely.
    exhausted: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    _stream: Option<cpal::Stream>,
}

impl Capture {
    /// Opens the given input device (by id), or the default one.
    pub fn open_microphone(device_id: Option<&str>) -> Result<Self, CaptureError> {
        let host = cpal::default_host();
        let device = match device_id {
            Some(id) => host
                .input_devices()
                .map_err(|e| CaptureError::Open(e.to_string()))?
                .find(|d| d.id().is_ok_and(|d_id| d_id.to_string() == id))
                .ok_or_else(|| CaptureError::DeviceGone(id.to_string()))?,
            None => host.default_input_device().ok_or(CaptureError::NoDevice)?,
        };
        let config = device.default_input_config().map_err(|e| {
            // ALSA's null device (all a machine without sound hardware has) fails here.
            if device_id.is_none() {
                CaptureError::NoDevice
            } else {
                CaptureError::Open(e.to_string())
            }
        })?;
        let sample_rate = config.sample_rate();
        let channels = config.channels().max(1) as usize;
        let (producer, consumer) = rtrb::RingBuffer::new(sample_rate as usize * RING_SECONDS);
        let dropped = Arc::new(AtomicUsize::new(0));
        let format = config.sample_format();
        let stream_config: cpal::StreamConfig = config.into();
        let stream = match format {
            cpal::SampleFormat::F32 => {
                build_stream::<f32>(&device, stream_config, channels, producer, &dropped)
            }
            cpal::SampleFormat::I16 => {
                build_stream::<i16>(&device, stream_config, channels, producer, &dropped)
            }
            cpal::SampleFormat::I32 => {
                build_stream::<i32>(&device, stream_config, channels, producer, &dropped)
            }
            cpal::SampleFormat::U16 => {
                build_stream::<u16>(&device, stream_config, channels, producer, &dropped)
            }
            other => {
                return Err(CaptureError::Open(format!(
                    "unsupported sample format {other}"
                )))
            }
        }?;
        stream
            .play()
            .map_err(|e| CaptureError::Open(e.to_string()))?;
        let source_name = device
            .description()
            .map(|d| d.name().to_string())
            .unwrap_or_else(|_| "microphone".into());
        Ok(Self {
            consumer,
            sample_rate,
            source_name,
            dropped,
            exhausted: Arc::new(AtomicBool::new(false)),
            stop: Arc::new(AtomicBool::new(false)),
            _stream: Some(stream),
        })
    }

    /// Feeds `samples` (mono, `sample_rate`) in 10 ms blocks at `speed` times real time from a
    /// thread, as a microphone would deliver them.
    pub fn from_clip(samples: Arc<Vec<f32>>, sample_rate: u32, speed: f32, name: &str) -> Self {
        let (mut producer, consumer) = rtrb::RingBuffer::new(sample_rate as usize * RING_SECONDS);
        let (dropped, exhausted, stop) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let (dropped_t, exhausted_t, stop_t) = (dropped.clone(), exhausted.clone(), stop.clone());
        std::thread::spawn(move || {
            let block = (sample_rate as usize / 100).max(1);
            let started = Instant::now();
            for (i, chunk) in samples.chunks(block).enumerate() {
                if stop_t.load(Ordering::Relaxed) {
                    return;
                }
                let due = Duration::from_secs_f64(
                    (i * block) as f64 / sample_rate as f64 / speed.max(0.01) as f64,
                );
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
                for &s in chunk {
                    if producer.push(s).is_err() {
                        dropped_t.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            exhausted_t.store(true, Ordering::Release);
        });
        Self {
            consumer,
            sample_rate,
            source_name: name.to_string(),
            dropped,
            exhausted,
            stop,
            _stream: None,
        }
    }

    /// Moves every sample captured since the last call into `out`; returns how many.
    pub fn drain(&mut self, out: &mut Vec<f32>) -> usize {
        let n = self.consumer.slots();
        if n == 0 {
            return 0;
        }
        if let Ok(chunk) = self.consumer.read_chunk(n) {
            let (a, b) = chunk.as_slices();
            out.extend_from_slice(a);
            out.extend_from_slice(b);
            chunk.commit_all();
        }
        n
    }

    /// An injected clip has been delivered and drained completely (a microphone never ends).
    pub fn finished(&self) -> bool {
        self.exhausted.load(Ordering::Acquire) && self.consumer.slots() == 0
    }

    pub fn dropped_samples(&self) -> usize {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn build_stream<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    channels: usize,
    mut producer: rtrb::Producer<f32>,
    dropped: &Arc<AtomicUsize>,
) -> Result<cpal::Stream, CaptureError>
where
    T: SizedSample + Send + 'static,
    f32: FromSample<T>,
{
    let dropped = dropped.clone();
    device
        .build_input_stream(
            config,
            move |data: &[T], _: &cpal::InputCallbackInfo| {
                // Runs on the audio thread: downmix and push, nothing else.
                for frame in data.chunks_exact(channels) {
                    let sum: f32 = frame.iter().map(|&s| s.to_sample::<f32>()).sum();
                    if producer.push(sum / channels as f32).is_err() {
                        dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            },
            |err| eprintln!("earworm: microphone stream error: {err}"),
            None,
        )
        .map_err(|e| CaptureError::Open(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_capture_delivers_every_sample_in_order() {
        let clip: Vec<f32> = (0..16_000).map(|i| i as f32).collect();
        let mut cap = Capture::from_clip(Arc::new(clip.clone()), 16_000, 20.0, "test");
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cap.finished() && Instant::now() < deadline {
            cap.drain(&mut got);
            std::thread::sleep(Duration::from_millis(5));
        }
        cap.drain(&mut got);
        assert_eq!(got, clip);
        assert_eq!(cap.dropped_samples(), 0);
    }
}
