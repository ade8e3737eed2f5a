//! Notes played on keys: the on-screen piano (mouse, or the computer keyboard mapped to keys
//! as DAWs do) and a MIDI keyboard. Both feed one [`PlayedNotes`] buffer with the times the
//! notes came; "Search" turns it into a melody query, key and tempo free.

use std::collections::HashMap;

use eframe::egui::{self, Color32, Pos2, Rect, Sense, Stroke, StrokeKind, Vec2};

use crate::notes::{to_scientific, NotesError, TypedNote};

/// A note as played: MIDI number and when it started and stopped (seconds on the app's clock).
#[derive(Debug, Clone, PartialEq)]
pub struct PlayedNote {
    pub midi: u8,
    pub start_s: f64,
    pub end_s: Option<f64>,
}

/// The notes played since the last search, from any keys.
#[derive(Debug, Default, Clone)]
pub struct PlayedNotes {
    notes: Vec<PlayedNote>,
    /// Sounding notes: MIDI number → index into `notes`.
    held: HashMap<u8, usize>,
}

impl PlayedNotes {
    pub fn note_on(&mut self, midi: u8, at_s: f64) {
        self.note_off(midi, at_s);
        self.held.insert(midi, self.notes.len());
        self.notes.push(PlayedNote {
            midi,
            start_s: at_s,
            end_s: None,
        });
    }

    pub fn note_off(&mut self, midi: u8, at_s: f64) {
        if let Some(i) = self.held.remove(&midi) {
            self.notes[i].end_s = Some(at_s.max(self.notes[i].start_s));
        }
    }

    /// A raw MIDI message: note-on (velocity 0 is a note-off, as keyboards send it) and
    /// note-off on any channel; everything else (controllers, clock, sysex) is ignored.
    pub fn midi_message(&mut self, bytes: &[u8], at_s: f64) {
        let [status, note, velocity, ..] = *bytes else {
            return;
        };
        if note > 127 {
            return;
        }
        match status & 0xF0 {
            0x90 if velocity > 0 => self.note_on(note, at_s),
            0x80 | 0x90 => self.note_off(note, at_s),
            _ => {}
        }
    }

    pub fn clear(&mut self) {
        self.notes.clear();
        self.held.clear();
    }

    pub fn notes(&self) -> &[PlayedNote] {
        &self.notes
    }

    pub fn is_held(&self, midi: u8) -> bool {
        self.held.contains_key(&midi)
    }

    /// The tune as notes with lengths, and the length of a quarter note in seconds. Chords
    /// keep their top note (the melody a player usually means); each note lasts until the
    /// next one starts. The quarter is the median gap between onsets doubled or halved into
    /// 0.35–0.7 s (a walking tempo), so lengths read as written; they are rounded to
    /// sixteenths. Played with no usable timing (gaps all near zero), every note is a quarter.
    pub fn melody(&self) -> (Vec<TypedNote>, f64) {
        const CHORD_S: f64 = 0.04;
        let mut onsets: Vec<(f64, u8)> = Vec::new();
        for n in &self.notes {
            match onsets.last_mut() {
                Some(last) if n.start_s - last.0 < CHORD_S => last.1 = last.1.max(n.midi),
                _ => onsets.push((n.start_s, n.midi)),
            }
        }
        let gaps: Vec<f64> = onsets.windows(2).map(|w| w[1].0 - w[0].0).collect();
        let mut sorted = gaps.clone();
        sorted.sort_by(f64::total_cmp);
        // The lower median: with two gap lengths equally common, the shorter is the unit.
        let median = sorted
            .get(sorted.len().saturating_sub(1) / 2)
            .copied()
            .unwrap_or(0.0);
        let timed = median > 0.05;
        let mut quarter = if timed { median } else { 0.6 };
        while quarter < 0.35 {
            quarter *= 2.0;
        }
        while quarter > 0.7 {
            quarter /= 2.0;
        }
        let notes = onsets
            .iter()
            .enumerate()
            .map(|(i, &(_, midi))| TypedNote {
                midi: Some(midi as f32),
                quarters: match gaps.get(i) {
                    Some(gap) if timed => {
                        ((gap / quarter * 4.0).round() / 4.0).clamp(0.25, 4.0) as f32
                    }
                    _ => 1.0,
                },
            })
            .collect();
        (notes, quarter)
    }

    /// The melody as an audio query at the tempo it was played.
    pub fn query_audio(&self) -> Result<Vec<f32>, NotesError> {
        let (notes, quarter_s) = self.melody();
        crate::notes::query_audio_at(&notes, (60.0 / quarter_s) as f32)
    }

    /// The melody in scientific pitch names, as the history keeps it.
    pub fn describe(&self) -> String {
        to_scientific(&self.melody().0)
    }
}

/// The computer keyboard as piano keys, as DAWs map it: the home row plays the white keys
/// from C, the row above the black keys; Z and X shift the octave.
pub const KEYBOARD_MAP: [(egui::Key, i32); 17] = [
    (egui::Key::A, 0),
    (egui::Key::W, 1),
    (egui::Key::S, 2),
    (egui::Key::E, 3),
    (egui::Key::D, 4),
    (egui::Key::F, 5),
    (egui::Key::T, 6),
    (egui::Key::G, 7),
    (egui::Key::Y, 8),
    (egui::Key::H, 9),
    (egui::Key::U, 10),
    (egui::Key::J, 11),
    (egui::Key::K, 12),
    (egui::Key::O, 13),
    (egui::Key::L, 14),
    (egui::Key::P, 15),
    (egui::Key::Semicolon, 16),
];

/// What the keys panel asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeysAction {
    Search,
}

/// The on-screen piano: two octaves from `low` (a C), with octave shift.
pub struct Piano {
    /// MIDI number of the lowest key (always a C).
    pub low: u8,
    /// Key under the mouse button, to release it when the button is.
    mouse_note: Option<u8>,
}

impl Default for Piano {
    fn default() -> Self {
        Self {
            low: 60,
            mouse_note: None,
        }
    }
}

const WHITE_STEPS: [u8; 7] = [0, 2, 4, 5, 7, 9, 11];

/// "C4", "F#5": the key's accessible name and label.
pub fn key_name(midi: u8) -> String {
    crate::dsp::midi_note_name(midi as f32)
}

impl Piano {
    /// Draws the panel and plays `notes` from mouse clicks and the computer keyboard (when no
    /// text field has the keyboard). `now_s` is the app's clock.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        notes: &mut PlayedNotes,
        now_s: f64,
        midi_status: &str,
    ) -> Option<KeysAction> {
        let mut action = None;
        ui.horizontal(|ui| {
            ui.strong("Play the tune");
            if ui.button("Octave down").on_hover_text("Z").clicked() {
                self.shift(-12);
            }
            if ui.button("Octave up").on_hover_text("X").clicked() {
                self.shift(12);
            }
            let played = notes.notes().len();
            if ui
                .add_enabled(played > 0, egui::Button::new("Clear"))
                .clicked()
            {
                notes.clear();
            }
            if ui
                .add_enabled(played >= 4, egui::Button::new("Search played notes"))
                .on_hover_text("Searches the tune you played (4 notes or more); Enter")
                .clicked()
            {
                action = Some(KeysAction::Search);
            }
            ui.label(midi_status);
        });
        if !ui.ctx().egui_wants_keyboard_input() {
            self.keyboard_input(ui.ctx(), notes, now_s);
            if ui.input(|i| i.key_pressed(egui::Key::Enter)) && notes.notes().len() >= 4 {
                action = Some(KeysAction::Search);
            }
        }
        ui.horizontal(|ui| {
            self.keys(ui, notes, now_s);
            roll(ui, notes, now_s);
        });
        let melody = notes.describe();
        ui.label(if melody.is_empty() {
            "Click the keys, or play with the computer keyboard (A W S E D F T G Y H U J K) or a MIDI keyboard.".to_string()
        } else {
            format!("Played: {melody}")
        });
        action
    }

    fn shift(&mut self, by: i32) {
        self.low = (self.low as i32 + by).clamp(24, 84) as u8;
    }

    fn keyboard_input(&mut self, ctx: &egui::Context, notes: &mut PlayedNotes, now_s: f64) {
        ctx.input(|i| {
            for event in &i.events {
                let egui::Event::Key {
                    key,
                    pressed,
                    repeat: false,
                    ..
                } = event
                else {
                    continue;
                };
                match (key, pressed) {
                    (egui::Key::Z, true) => self.shift(-12),
                    (egui::Key::X, true) => self.shift(12),
                    _ => {}
                }
                if let Some((_, step)) = KEYBOARD_MAP.iter().find(|(k, _)| k == key) {
                    let midi = (self.low as i32 + step).clamp(0, 127) as u8;
                    if *pressed {
                        notes.note_on(midi, now_s);
                    } else {
                        notes.note_off(midi, now_s);
                    }
                }
            }
        });
    }

    fn keys(&mut self, ui: &mut egui::Ui, notes: &mut PlayedNotes, now_s: f64) {
        let white_w = 34.0;
        let size = Vec2::new(white_w * 14.0, 120.0);
        let (area, _) = ui.allocate_exact_size(size, Sense::hover());
        let black_size = Vec2::new(white_w * 0.6, size.y * 0.6);
        let mut whites = Vec::new();
        let mut blacks = Vec::new();
        for octave in 0..2u8 {
            for (k, step) in WHITE_STEPS.iter().enumerate() {
                let x = area.left() + white_w * (octave as usize * 7 + k) as f32;
                let midi = self.low + 12 * octave + step;
                whites.push((
                    midi,
                    Rect::from_min_size(Pos2::new(x, area.top()), Vec2::new(white_w, size.y)),
                ));
                // A black key sits after every white key but E and B.
                if !matches!(step, 4 | 11) {
                    let bx = x + white_w - black_size.x / 2.0;
                    blacks.push((
                        midi + 1,
                        Rect::from_min_size(Pos2::new(bx, area.top()), black_size),
                    ));
                }
            }
        }
        // Black keys are drawn over white ones, so they take the clicks where they overlap.
        let mut pressed_here = None;
        for (midi, rect) in whites.iter().chain(&blacks) {
            let id = ui.scope_id().with(("piano-key", *midi));
            let response = ui.interact(*rect, id, Sense::click_and_drag());
            response.widget_info(|| {
                egui::WidgetInfo::labeled(egui::Role::Button, true, key_name(*midi))
            });
            if response.is_pointer_button_down_on() {
                pressed_here = Some(*midi);
            }
            if response.clicked() && self.mouse_note != Some(*midi) && !notes.is_held(*midi) {
                // A click with no press seen (assistive technology, tests): a short note.
                notes.note_on(*midi, now_s);
                notes.note_off(*midi, now_s + 0.3);
            }
        }
        // Black keys overlap white ones: the topmost key under the button wins.
        if let Some(pos) = ui.input(|i| i.pointer.interact_pos()) {
            if pressed_here.is_some() {
                pressed_here = blacks
                    .iter()
                    .chain(&whites)
                    .find(|(_, r)| r.contains(pos))
                    .map(|(m, _)| *m);
            }
        }
        if pressed_here != self.mouse_note {
            if let Some(old) = self.mouse_note.take() {
                notes.note_off(old, now_s);
            }
            if let Some(new) = pressed_here {
                notes.note_on(new, now_s);
            }
            self.mouse_note = pressed_here;
        }
        let painter = ui.painter_at(area);
        let lit = Color32::from_rgb(90, 170, 250);
        for (midi, rect) in &whites {
            let fill = if notes.is_held(*midi) {
                lit
            } else {
                Color32::from_gray(235)
            };
            painter.rect(
                *rect,
                2.0,
                fill,
                Stroke::new(1.0, Color32::from_gray(60)),
                StrokeKind::Inside,
            );
            if midi % 12 == 0 {
                painter.text(
                    rect.center_bottom() - Vec2::new(0.0, 12.0),
                    egui::Align2::CENTER_CENTER,
                    key_name(*midi),
                    egui::FontId::proportional(11.0),
                    Color32::from_gray(70),
                );
            }
        }
        for (midi, rect) in &blacks {
            let fill = if notes.is_held(*midi) {
                lit
            } else {
                Color32::from_gray(25)
            };
            painter.rect_filled(*rect, 2.0, fill);
        }
    }
}

/// Seconds of playing the piano roll shows.
const ROLL_S: f64 = 8.0;

/// The notes as played, live: a piano roll of the last [`ROLL_S`] seconds, newest at the right.
fn roll(ui: &mut egui::Ui, notes: &PlayedNotes, now_s: f64) {
    let size = Vec2::new(ui.available_width().max(120.0), 120.0);
    let (rect, _) = ui.allocate_exact_size(size, Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 3.0, Color32::from_gray(22));
    let shown: Vec<&PlayedNote> = notes
        .notes()
        .iter()
        .filter(|n| n.end_s.unwrap_or(now_s) >= now_s - ROLL_S)
        .collect();
    if shown.is_empty() {
        return;
    }
    let low = shown.iter().map(|n| n.midi).min().unwrap_or(60) as f32 - 2.0;
    let high = shown.iter().map(|n| n.midi).max().unwrap_or(72) as f32 + 2.0;
    let x_at = |t: f64| rect.right() - rect.width() * ((now_s - t) / ROLL_S).clamp(0.0, 1.0) as f32;
    let row_h = rect.height() / (high - low + 1.0);
    for n in shown {
        let y = rect.bottom() - (n.midi as f32 - low + 0.5) * row_h;
        let bar = Rect::from_min_max(
            Pos2::new(x_at(n.start_s), y - row_h * 0.4),
            Pos2::new(
                x_at(n.end_s.unwrap_or(now_s)).max(x_at(n.start_s) + 3.0),
                y + row_h * 0.4,
            ),
        );
        painter.rect_filled(bar, 2.0, Color32::from_rgb(90, 170, 250));
        painter.text(
            bar.left_top() + Vec2::new(1.0, -2.0),
            egui::Align2::LEFT_BOTTOM,
            key_name(n.midi),
            egui::FontId::proportional(10.0),
            Color32::from_gray(170),
        );
    }
    // While notes are held or were just played, the roll scrolls.
    ui.ctx()
        .request_repaint_after(std::time::Duration::from_millis(50));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midi_messages_become_timed_notes() {
        let mut p = PlayedNotes::default();
        p.midi_message(&[0x90, 64, 90], 0.0);
        p.midi_message(&[0xB0, 7, 100], 0.1); // a controller: ignored
        p.midi_message(&[0x90, 64, 0], 0.5); // velocity 0 = note off
        p.midi_message(&[0x91, 62, 80], 0.5);
        p.midi_message(&[0x81, 62, 0], 0.75);
        p.midi_message(&[0x90, 60, 80], 1.0);
        p.midi_message(&[0x90], 1.1); // truncated: ignored
        assert_eq!(p.notes().len(), 3);
        assert_eq!(p.notes()[0].end_s, Some(0.5));
        assert_eq!(p.notes()[1].end_s, Some(0.75));
        assert!(p.is_held(60) && !p.is_held(64));
        let (m, quarter) = p.melody();
        let midi: Vec<_> = m.iter().map(|n| n.midi.unwrap()).collect();
        assert_eq!(midi, [64.0, 62.0, 60.0]);
        // Gaps 0.5 s, 0.5 s: each a quarter; the last note a quarter too.
        assert_eq!(quarter, 0.5);
        assert!(m.iter().all(|n| n.quarters == 1.0), "{m:?}");
    }

    #[test]
    fn rhythm_is_measured_against_the_median_gap_and_chords_keep_the_top() {
        let mut p = PlayedNotes::default();
        let played = [
            (0.0, 60),
            (0.6, 62),
            (0.9, 64),
            (0.91, 67),
            (1.2, 65),
            (2.4, 64),
        ];
        for (t, m) in played {
            p.note_on(m, t);
        }
        let (m, quarter) = p.melody();
        let got: Vec<(f32, f32)> = m.iter().map(|n| (n.midi.unwrap(), n.quarters)).collect();
        // Onsets 0, .6, .9 (chord 64+67 → 67), 1.2, 2.4: gaps .6 .3 .3 1.2, lower median
        // .3 s, doubled into the walking range: a quarter is 0.6 s.
        assert!((quarter - 0.6).abs() < 1e-9);
        assert_eq!(
            got,
            [
                (60.0, 1.0),
                (62.0, 0.5),
                (67.0, 0.5),
                (65.0, 2.0),
                (64.0, 1.0)
            ]
        );
        assert_eq!(p.describe().split_whitespace().count(), 5);
    }

    #[test]
    fn notes_with_no_usable_timing_are_even_beats_and_key_names_are_scientific() {
        let mut p = PlayedNotes::default();
        for (i, m) in [60, 62, 64, 65].into_iter().enumerate() {
            p.note_on(m, 3.0 + 0.045 * i as f64);
        }
        let (m, _) = p.melody();
        assert_eq!(m.len(), 4);
        assert!(m.iter().all(|n| n.quarters == 1.0), "{m:?}");
        assert_eq!(key_name(60), "C4");
        assert_eq!(key_name(70), "A#4");
        assert_eq!(key_name(21), "A0");
    }
}
