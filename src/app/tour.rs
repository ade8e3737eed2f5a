//! The scripted tour (`earworm app --tour DIR`): drives the real window through its main states
//! and saves screenshots and frame times for the docs.

use super::*;

// ----- The scripted tour (screenshots and frame times for the docs) -----

/// Drives the real app through its main states under a real window (Xvfb here), saving
/// screenshots and frame times into a folder.
pub(super) struct Tour {
    dir: PathBuf,
    stage: u32,
    since: Instant,
    shots: Arc<std::sync::atomic::AtomicUsize>,
}

impl Tour {
    pub(super) fn new(dir: PathBuf) -> Self {
        let _ = std::fs::create_dir_all(&dir);
        Self {
            dir,
            stage: 0,
            since: Instant::now(),
            shots: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        }
    }

    fn shoot(&self, ctx: &egui::Context, name: &str) {
        let path = self.dir.join(name);
        let shots = self.shots.clone();
        ctx.request_screenshot(move |image| {
            if let Err(e) = save_png(&path, &image) {
                eprintln!("earworm tour: {}: {e}", path.display());
            }
            shots.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
    }

    fn next(&mut self) {
        self.stage += 1;
        self.since = Instant::now();
        eprintln!("earworm tour: stage {}", self.stage);
    }

    pub(super) fn step(&mut self, app: &mut EarwormApp, ctx: &egui::Context) {
        ctx.request_repaint_after(Duration::from_millis(50));
        let waited = self.since.elapsed();
        match self.stage {
            // Fresh database: the demo library is being indexed.
            0 => {
                if app.index_progress.as_ref().is_some_and(|p| p.done >= 4) {
                    app.tab = Tab::Library;
                    self.shoot(ctx, "app_library_indexing.png");
                    self.next();
                }
            }
            1 => {
                if !app.worker.indexing() && waited > Duration::from_secs(1) {
                    app.tab = Tab::Search;
                    app.play_example_hum();
                    self.next();
                }
            }
            2 => {
                if app.live.as_ref().is_some_and(|l| l.duration_s() > 7.0) && app.results.is_some()
                {
                    self.shoot(ctx, "app_recording.png");
                    self.next();
                }
            }
            3 => {
                if app.results_are_final() {
                    app.select(0);
                    self.next();
                }
            }
            4 => {
                if waited > Duration::from_secs(1) {
                    self.shoot(ctx, "app_results.png");
                    self.next();
                }
            }
            5 => {
                if waited > Duration::from_secs(1) {
                    app.hum_vs_song(false);
                    self.next();
                }
            }
            6 => {
                if waited > Duration::from_secs(2) {
                    self.shoot(ctx, "app_hum_vs_song.png");
                    self.next();
                }
            }
            // A MIDI keyboard plays the first phrase of demo tune 02, its last note held.
            7 => {
                if waited > Duration::from_secs(1) {
                    app.stop_playback();
                    let now = ctx.input(|i| i.time);
                    let mut t = now - 8.0;
                    let phrase = tour_phrase(2);
                    for (k, (midi, quarters)) in phrase.iter().enumerate() {
                        app.midi_message(&[0x90, *midi, 90], t);
                        t += 0.5 * *quarters as f64;
                        if k + 1 < phrase.len() {
                            app.midi_message(&[0x80, *midi, 0], t - 0.05);
                        }
                    }
                    self.next();
                }
            }
            8 => {
                if waited > Duration::from_secs(1) {
                    self.shoot(ctx, "app_keys.png");
                    self.next();
                }
            }
            9 => {
                if waited > Duration::from_millis(500) {
                    app.search_played();
                    self.next();
                }
            }
            10 => {
                if app.results_are_final() && waited > Duration::from_secs(1) {
                    app.show_keys(false);
                    app.show_tab(Tab::History);
                    self.next();
                }
            }
            11 => {
                if waited > Duration::from_secs(1) {
                    self.shoot(ctx, "app_history.png");
                    self.next();
                }
            }
            12 => {
                if waited > Duration::from_secs(2) {
                    let report = serde_json::json!({
                        "frame_times_ms": frame_summary(&app.frame_times),
                        "stop_to_final_results_ms": app.last_stop_to_results.map(|d| d.as_millis()),
                        "screenshots": self.shots.load(std::sync::atomic::Ordering::SeqCst),
                    });
                    let _ = std::fs::write(
                        self.dir.join("app_tour.json"),
                        serde_json::to_string_pretty(&report).unwrap_or_default(),
                    );
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                    self.next();
                }
            }
            _ => {}
        }
    }
}

/// The first phrase of demo tune `k` (as the demo files are numbered) for the tour's keys.
fn tour_phrase(k: usize) -> Vec<(u8, f32)> {
    use crate::synth::{corpus, devset};
    let Ok(melodies) = corpus::load(&corpus::default_path()) else {
        return Vec::new();
    };
    devset::demo_tunes(&melodies)
        .get(k - 1)
        .map(|tune| {
            devset::first_phrase(&tune.score)
                .iter()
                .map(|n| (n.midi.round() as u8, n.duration))
                .collect()
        })
        .unwrap_or_default()
}

fn save_png(path: &Path, image: &egui::ColorImage) -> std::io::Result<()> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut encoder = png::Encoder::new(file, image.size[0] as u32, image.size[1] as u32);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(std::io::Error::other)?;
    let bytes: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
    writer
        .write_image_data(&bytes)
        .map_err(std::io::Error::other)?;
    Ok(())
}
