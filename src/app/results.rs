//! The results list, the selected match with its alignment overlay, and the player controls.

use super::*;

impl EarwormApp {
    pub(super) fn results_list(&mut self, ui: &mut egui::Ui) {
        if self.recording.is_some() && self.results.is_none() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Listening… results appear while you hum.");
            });
        } else if self.final_seq.is_some() && !self.results_provisional {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Searching…");
            });
        }
        if let Some(e) = &self.results_error {
            ui.colored_label(Color32::from_rgb(230, 160, 60), e);
        }
        if self.library_loaded && self.library.songs == 0 && !self.worker.indexing() {
            ui.label("Your library is empty. Add a music folder in the Library tab, or drop one on the window.");
        }
        let Some(results) = &self.results else {
            return;
        };
        ui.horizontal(|ui| {
            ui.heading(if self.results_provisional {
                "Results so far"
            } else {
                "Results"
            });
            if !self.results_provisional {
                ui.label(format!("({} ms)", results.elapsed.as_millis()));
            }
        });
        if results.rows.is_empty() {
            ui.label("No song matched.");
        } else if let Some(c) = results.confidence {
            // Calibrated: the probability that the first song is the one hummed.
            if c.confident {
                ui.label(format!("Confident match: {}% likely right.", c.percent()));
            } else {
                ui.colored_label(
                    Color32::from_rgb(230, 160, 60),
                    format!(
                        "No confident match ({}% likely right) — these are best guesses.",
                        c.percent()
                    ),
                );
            }
        }
        let mut clicked = None;
        egui::ScrollArea::vertical()
            .id_salt("results")
            .show(ui, |ui| {
                for (i, row) in results.rows.iter().enumerate() {
                    let selected = self.selected == Some(i);
                    let frame = egui::Frame::group(ui.style()).fill(if selected {
                        ui.visuals().selection.bg_fill.gamma_multiply(0.5)
                    } else {
                        Color32::TRANSPARENT
                    });
                    let response = frame
                        .show(ui, |ui| {
                            ui.set_width(ui.available_width());
                            ui.horizontal(|ui| {
                                ui.label(RichText::new(format!("{}.", i + 1)).strong());
                                ui.label(RichText::new(&row.song.title).strong());
                            });
                            if !row.song.artist.is_empty() {
                                ui.label(&row.song.artist);
                            }
                            ui.horizontal(|ui| {
                                ui.add(
                                    egui::ProgressBar::new(row.found.score.clamp(0.0, 1.0))
                                        .desired_width(120.0)
                                        .desired_height(10.0),
                                );
                                // A similarity score, not a probability: the calibrated
                                // confidence above says how likely the first song is right.
                                ui.label(format!(
                                    "score {:.2}  at {}–{}",
                                    row.found.score,
                                    clock(row.found.start_s),
                                    clock(row.found.end_s)
                                ));
                            });
                        })
                        .response
                        .interact(egui::Sense::click());
                    if response.clicked() {
                        clicked = Some(i);
                    }
                }
            });
        if let Some(i) = clicked {
            self.select(i);
        }
    }

    pub(super) fn match_detail(&mut self, ui: &mut egui::Ui) {
        let Some((row, hum)) = self.selected.and_then(|i| {
            self.results
                .as_ref()
                .and_then(|r| r.rows.get(i).map(|row| (row.clone(), r.hum.clone())))
        }) else {
            if self.live.is_some() && !self.is_recording() {
                if ui.button("Play my recording").clicked() {
                    self.play_recording();
                }
            }
            return;
        };
        ui.heading(&row.song.title);
        ui.label(format!(
            "{}{}matched {}–{} of {}",
            row.song.artist,
            if row.song.artist.is_empty() {
                ""
            } else {
                " · "
            },
            clock(row.found.start_s),
            clock(row.found.end_s),
            clock(row.song.duration_s as f32)
        ));
        match &row.melody {
            Some(melody) => {
                // Built once per selected result, not every frame.
                let key = self.selected;
                if self.overlay.as_ref().is_none_or(|(k, _)| *k != key) {
                    self.overlay = Some((key, overlay::build(melody, &hum, &row.found)));
                }
                let o = &self.overlay.as_ref().expect("just built").1;
                ui.label(RichText::new(&o.summary).size(15.0));
                egui_plot::Plot::new("overlay")
                    .height((ui.available_height() - 110.0).clamp(120.0, 320.0))
                    .legend(egui_plot::Legend::default())
                    .x_axis_label("seconds into the song")
                    .y_axis_formatter(|mark, _| crate::dsp::midi_note_name(mark.value as f32))
                    .allow_scroll(false)
                    .show(ui, |plot| {
                        let song_line = match row.found.line {
                            crate::search::MatchedLine::Melody => "song melody",
                            crate::search::MatchedLine::SecondVoice => "song's inner voice",
                        };
                        for line in &o.song {
                            plot.line(
                                egui_plot::Line::new(song_line, line.clone())
                                    .color(Color32::from_rgb(250, 170, 60))
                                    .width(3.0),
                            );
                        }
                        for line in &o.hum {
                            plot.line(
                                egui_plot::Line::new("your hum (in the song's key)", line.clone())
                                    .color(Color32::from_rgb(80, 200, 255))
                                    .width(2.0),
                            );
                        }
                    });
            }
            None => {
                ui.label("No melody stored for this song.");
            }
        }
        if let Some(seconds) = self.song_timeline(ui, &row) {
            let (path, title) = (row.song.path.clone(), row.song.title.clone());
            let duration = row.song.duration_s as f32;
            self.player_error = self
                .player
                .play_file(&path, &title, seconds, duration)
                .err();
        }
        self.player_controls(ui);
    }

    /// The whole song as a strip: its melody, the matched part highlighted, where playback
    /// is; a click plays from there. Returns the clicked time.
    fn song_timeline(&mut self, ui: &mut egui::Ui, row: &worker::ResultRow) -> Option<f32> {
        let duration = (row.song.duration_s as f32).max(0.1);
        let (rect, response) =
            ui.allocate_exact_size(Vec2::new(ui.available_width(), 34.0), egui::Sense::click());
        let response = response.on_hover_text("The whole song: click to play from there");
        response
            .widget_info(|| egui::WidgetInfo::labeled(egui::Role::Slider, true, "Song timeline"));
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 3.0, Color32::from_gray(28));
        let x_at = |t: f32| rect.left() + rect.width() * (t / duration).clamp(0.0, 1.0);
        let matched = egui::Rect::from_x_y_ranges(
            x_at(row.found.start_s)..=x_at(row.found.end_s).max(x_at(row.found.start_s) + 2.0),
            rect.y_range(),
        );
        painter.rect_filled(
            matched,
            3.0,
            Color32::from_rgba_unmultiplied(80, 200, 255, 70),
        );
        if let Some(melody) = &row.melody {
            let voiced: Vec<f32> = melody
                .midi
                .iter()
                .copied()
                .filter(|m| !m.is_nan())
                .collect();
            let (low, high) = voiced
                .iter()
                .fold((f32::MAX, f32::MIN), |(l, h), &m| (l.min(m), h.max(m)));
            let span = (high - low).max(1.0);
            // One dot per pixel column is plenty for an overview.
            let step = (melody.midi.len() as f32 / rect.width()).max(1.0);
            let mut i = 0.0f32;
            while (i as usize) < melody.midi.len() {
                let m = melody.midi[i as usize];
                if !m.is_nan() {
                    let t = i / melody.fps;
                    let y = rect.bottom() - 4.0 - (rect.height() - 8.0) * (m - low) / span;
                    painter.circle_filled(
                        egui::pos2(x_at(t), y),
                        1.0,
                        Color32::from_rgb(250, 170, 60),
                    );
                }
                i += step;
            }
        }
        let playing_this = matches!(&self.player.now,
            Some(Playing::Song { path, .. } | Playing::Loop { path, .. }) if *path == row.song.path);
        if playing_this {
            let x = x_at(self.player.position_s());
            painter.line_segment(
                [egui::pos2(x, rect.top()), egui::pos2(x, rect.bottom())],
                egui::Stroke::new(2.0, Color32::WHITE),
            );
        }
        response
            .clicked()
            .then(|| response.interact_pointer_pos())
            .flatten()
            .map(|p| duration * ((p.x - rect.left()) / rect.width()).clamp(0.0, 1.0))
    }

    pub(super) fn player_controls(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if ui.button("Play from the match").clicked() {
                self.play_selected();
            }
            let playing = self.player.now.is_some();
            if ui
                .add_enabled(
                    playing,
                    egui::Button::new(if self.player.is_paused() {
                        "Resume"
                    } else {
                        "Pause"
                    }),
                )
                .clicked()
            {
                self.player.toggle_pause();
            }
            if ui.add_enabled(playing, egui::Button::new("Stop")).clicked() {
                self.player.stop();
            }
            if ui
                .add_enabled(
                    self.live.is_some() && self.recording.is_none(),
                    egui::Button::new("Play my recording"),
                )
                .clicked()
            {
                self.play_recording();
            }
        });
        ui.horizontal(|ui| {
            if ui
                .button("Loop the match")
                .on_hover_text("Play the matched part of the song over and over")
                .clicked()
            {
                self.loop_selected();
            }
            let can_compare = self.query_audio.is_some() && self.recording.is_none();
            let why = "Your tune in the song's key and timing, then the song: does it match?";
            if ui
                .add_enabled(can_compare, egui::Button::new("Hum vs song"))
                .on_hover_text(why)
                .on_disabled_hover_text("Needs a hummed, played or typed tune (not a file)")
                .clicked()
            {
                self.hum_vs_song(false);
            }
            if ui
                .add_enabled(can_compare, egui::Button::new("Hum over song"))
                .on_hover_text("Your tune, moved into the song's key and timing, over the song")
                .clicked()
            {
                self.hum_vs_song(true);
            }
            if self.player.is_preparing() {
                ui.spinner();
                ui.label("Preparing…");
            }
        });
        if let Some(now) = self.player.now.clone() {
            let mut pos = self.player.position_s();
            let total = self.player.duration_s.max(pos).max(0.1);
            ui.horizontal(|ui| {
                ui.label(match &now {
                    Playing::Song { title, .. } => title.clone(),
                    Playing::Loop { title, .. } => format!("{title} (looping the match)"),
                    Playing::HumVsSong {
                        title,
                        mixed: false,
                    } => {
                        format!("Your tune, then {title}")
                    }
                    Playing::HumVsSong { title, mixed: true } => format!("Your tune over {title}"),
                    Playing::Recording => "Your recording".into(),
                });
                let slider = ui.add(
                    egui::Slider::new(&mut pos, 0.0..=total)
                        .show_value(false)
                        .trailing_fill(true),
                );
                ui.label(format!("{} / {}", clock(pos), clock(total)));
                if slider.drag_stopped() || (slider.changed() && !slider.dragged()) {
                    self.player.seek(pos);
                }
            });
        }
        if let Some(e) = &self.player_error {
            ui.colored_label(Color32::from_rgb(230, 160, 60), e);
        }
    }
}
