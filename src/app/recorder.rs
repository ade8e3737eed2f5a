//! The search tab: the hum area with its live spectrogram and pitch track while recording, and
//! the results beside it.

use super::*;

impl EarwormApp {
    /// The search tab; returns the hum area (where a dropped file becomes a query).
    pub(super) fn search_view(&mut self, ui: &mut egui::Ui) -> egui::Rect {
        let area = self.live_view(ui);
        ui.add_space(8.0);
        egui::Panel::left("results-panel")
            .resizable(true)
            .default_size(430.0)
            .show(ui, |ui| self.results_list(ui));
        egui::CentralPanel::default().show(ui, |ui| self.match_detail(ui));
        area
    }

    pub(super) fn live_view(&mut self, ui: &mut egui::Ui) -> egui::Rect {
        let height = 200.0;
        let (rect, _) = ui.allocate_exact_size(
            Vec2::new(ui.available_width(), height),
            egui::Sense::hover(),
        );
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 4.0, Color32::from_rgb(12, 12, 20));
        let visible = (live::FRAMES_PER_SECOND * 12.0) as usize;
        let label_w = 34.0;
        let plot = egui::Rect::from_min_max(rect.min + Vec2::new(label_w, 0.0), rect.max);
        if let Some(live) = &self.live {
            let first = live.columns.len().saturating_sub(visible);
            // Re-upload only when new frames arrived (the view repaints at 30 fps).
            let columns = live.columns.len();
            if self.spectrogram.as_ref().is_none_or(|(n, _)| *n != columns) {
                let image = spectrogram_image(&live.columns[first..], visible);
                match &mut self.spectrogram {
                    Some((n, texture)) => {
                        texture.set(image, egui::TextureOptions::LINEAR);
                        *n = columns;
                    }
                    None => {
                        let texture = ui.ctx().load_texture(
                            "live-spectrogram",
                            image,
                            egui::TextureOptions::LINEAR,
                        );
                        self.spectrogram = Some((columns, texture));
                    }
                }
            }
            let texture = &self.spectrogram.as_ref().expect("uploaded above").1;
            painter.image(
                texture.id(),
                plot,
                egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
                Color32::WHITE,
            );
            // The pitch track over it.
            let y_of = |midi: f32| {
                plot.bottom()
                    - (LiveAnalysis::midi_to_band(midi) + 0.5) / live::DISPLAY_BINS as f32
                        * plot.height()
            };
            // Newest frame at the right edge, as in the image.
            let offset = visible - (live.columns.len() - first).min(visible);
            let x_of = |i: usize| {
                plot.left() + (offset + i - first) as f32 / visible as f32 * plot.width()
            };
            let mut line: Vec<egui::Pos2> = Vec::new();
            for (i, &m) in live.pitch_midi.iter().enumerate().skip(first) {
                if m.is_nan() {
                    if line.len() > 1 {
                        painter.add(egui::Shape::line(
                            std::mem::take(&mut line),
                            egui::Stroke::new(2.5, Color32::from_rgb(80, 230, 255)),
                        ));
                    }
                    line.clear();
                } else {
                    line.push(egui::pos2(x_of(i), y_of(m)));
                }
            }
            if line.len() > 1 {
                painter.add(egui::Shape::line(
                    line,
                    egui::Stroke::new(2.5, Color32::from_rgb(80, 230, 255)),
                ));
            }
            if let Some(&m) = live.pitch_midi.last().filter(|m| !m.is_nan()) {
                painter.text(
                    plot.right_top() + Vec2::new(-8.0, 6.0),
                    egui::Align2::RIGHT_TOP,
                    crate::dsp::midi_note_name(m),
                    egui::FontId::proportional(22.0),
                    Color32::from_rgb(80, 230, 255),
                );
            }
            painter.text(
                plot.left_top() + Vec2::new(8.0, 6.0),
                egui::Align2::LEFT_TOP,
                format!("{:.1} s", live.duration_s()),
                egui::FontId::proportional(14.0),
                Color32::LIGHT_GRAY,
            );
        } else {
            painter.text(
                rect.center(),
                egui::Align2::CENTER_CENTER,
                "Press Record (or space) and hum, sing or whistle a tune.\nNo microphone? Try \"Example hum\", or drop an audio file here.",
                egui::FontId::proportional(16.0),
                Color32::GRAY,
            );
        }
        // Note names on the pitch axis.
        for octave in 0..=5 {
            let midi = live::DISPLAY_MIN_MIDI + 12.0 * octave as f32;
            let y = plot.bottom()
                - (LiveAnalysis::midi_to_band(midi) + 0.5) / live::DISPLAY_BINS as f32
                    * plot.height();
            painter.text(
                egui::pos2(rect.left() + 4.0, y),
                egui::Align2::LEFT_CENTER,
                crate::dsp::midi_note_name(midi),
                egui::FontId::proportional(11.0),
                Color32::GRAY,
            );
            painter.hline(
                plot.x_range(),
                y,
                egui::Stroke::new(0.5, Color32::from_white_alpha(25)),
            );
        }
        if ui.ctx().input(|i| !i.raw.hovered_files.is_empty()) {
            painter.rect_stroke(
                rect,
                4.0,
                egui::Stroke::new(2.0, Color32::LIGHT_BLUE),
                egui::StrokeKind::Inside,
            );
        }
        rect
    }
}

/// The visible spectrogram as an image: newest column on the right, lowest band at the bottom.
fn spectrogram_image(columns: &[Vec<f32>], width: usize) -> egui::ColorImage {
    let height = live::DISPLAY_BINS;
    let mut image = egui::ColorImage::filled([width, height], Color32::from_rgb(12, 12, 20));
    let peak = columns
        .iter()
        .flat_map(|c| c.iter())
        .fold(1.0f32, |a, &b| a.max(b));
    let offset = width - columns.len().min(width);
    for (x, col) in columns.iter().enumerate() {
        for (b, &v) in col.iter().enumerate().take(height) {
            let t = (v / peak).clamp(0.0, 1.0);
            image[(offset + x, height - 1 - b)] = heat(t);
        }
    }
    image
}

/// Dark blue → magenta → orange → pale yellow.
fn heat(t: f32) -> Color32 {
    let t = t.powf(1.5);
    let stops = [
        (0.0, [12.0, 12.0, 20.0]),
        (0.35, [90.0, 20.0, 110.0]),
        (0.7, [230.0, 90.0, 40.0]),
        (1.0, [255.0, 240.0, 170.0]),
    ];
    for w in stops.windows(2) {
        let ((t0, c0), (t1, c1)) = (w[0], w[1]);
        if t <= t1 {
            let f = (t - t0) / (t1 - t0);
            let mix = |i: usize| (c0[i] + f * (c1[i] - c0[i])) as u8;
            return Color32::from_rgb(mix(0), mix(1), mix(2));
        }
    }
    Color32::from_rgb(255, 240, 170)
}
