//! The History tab: every finished search, newest first, with what it found. The panel only
//! draws and reports what was asked of it ([`HistoryAction`]); the app carries that out.

use eframe::egui::{self, RichText};

use crate::library::{utc_time, HistoryEntry, QueryKind};

/// What the user asked the History tab to do.
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryAction {
    Rerun(i64),
    PlayRecording(i64),
    Delete(i64),
    DeleteAll,
    Export,
}

#[derive(Default)]
pub struct HistoryPanel {
    pub entries: Vec<HistoryEntry>,
    pub loaded: bool,
    pub error: Option<String>,
    /// "Delete all" asks once more before it acts.
    confirm_delete_all: bool,
}

impl HistoryPanel {
    pub fn ui(&mut self, ui: &mut egui::Ui, keep_recordings: bool) -> Option<HistoryAction> {
        let mut action = None;
        ui.horizontal(|ui| {
            ui.heading("History");
            ui.label(format!("{} searches", self.entries.len()));
            if ui
                .add_enabled(!self.entries.is_empty(), egui::Button::new("Export CSV…"))
                .on_hover_text("All searches with their results, one row per result")
                .clicked()
            {
                action = Some(HistoryAction::Export);
            }
            if self.confirm_delete_all {
                ui.label("Delete every kept search?");
                if ui.button("Yes, delete all").clicked() {
                    action = Some(HistoryAction::DeleteAll);
                    self.confirm_delete_all = false;
                }
                if ui.button("Keep them").clicked() {
                    self.confirm_delete_all = false;
                }
            } else if ui
                .add_enabled(!self.entries.is_empty(), egui::Button::new("Delete all"))
                .clicked()
            {
                self.confirm_delete_all = true;
            }
        });
        if !keep_recordings {
            ui.label(
                "Recordings are not kept (Settings): hummed searches list their results only.",
            );
        }
        if let Some(e) = &self.error {
            ui.colored_label(egui::Color32::from_rgb(230, 120, 80), e);
        }
        if self.loaded && self.entries.is_empty() {
            ui.add_space(10.0);
            ui.label("No searches yet: every search you make is kept here.");
            return action;
        }
        ui.add_space(4.0);
        egui::ScrollArea::vertical()
            .id_salt("history")
            .show(ui, |ui| {
                egui::Grid::new("history")
                    .striped(true)
                    .num_columns(5)
                    .spacing([12.0, 6.0])
                    .show(ui, |ui| {
                        ui.strong("When (UTC)");
                        ui.strong("Query");
                        ui.strong("Best match");
                        ui.label("");
                        ui.label("");
                        ui.end_row();
                        for e in &self.entries {
                            ui.label(utc_time(e.at));
                            ui.label(describe_query(e));
                            ui.label(best_match(e));
                            ui.horizontal(|ui| {
                                if ui
                                    .button("Re-run")
                                    .on_hover_text("Search again in the library as it is now")
                                    .clicked()
                                {
                                    action = Some(HistoryAction::Rerun(e.id));
                                }
                                if e.has_recording
                                    && ui
                                        .button("Play recording")
                                        .on_hover_text("Play what you hummed")
                                        .clicked()
                                {
                                    action = Some(HistoryAction::PlayRecording(e.id));
                                }
                            });
                            if ui.button("Delete").clicked() {
                                action = Some(HistoryAction::Delete(e.id));
                            }
                            ui.end_row();
                        }
                    });
            });
        action
    }
}

fn describe_query(e: &HistoryEntry) -> RichText {
    let what = match e.kind {
        QueryKind::Hum => "hum",
        QueryKind::File => "file",
        QueryKind::Notes => "notes",
        QueryKind::Keys => "keys",
    };
    let mut query = e.query.clone();
    if query.chars().count() > 48 {
        query = query.chars().take(47).collect::<String>() + "…";
    }
    RichText::new(format!("{what}  {query}"))
}

fn best_match(e: &HistoryEntry) -> String {
    match e.results.first() {
        None => "no results".into(),
        Some(r) => {
            let sure = e.confidence.map_or(String::new(), |c| {
                format!(", {}% likely", crate::engine::percent(c))
            });
            format!("{}  (score {:.2}{sure})", r.title, r.score)
        }
    }
}
