//! The Library tab: folders with their songs, indexing progress and files that failed.

use super::*;

impl EarwormApp {
    pub(super) fn library_view(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("Library");
            ui.label(format!(
                "{} songs in {}",
                self.library.songs,
                self.db_dir.display()
            ));
        });
        ui.horizontal(|ui| {
            if ui
                .add_enabled(self.folder_pick.is_none(), egui::Button::new("Add folder…"))
                .clicked()
            {
                self.folder_pick = Some(spawn_dialog(|| rfd::FileDialog::new().pick_folder()));
            }
            ui.label("…or drop folders and audio files on this window.");
        });
        ui.add_space(6.0);
        let indexing = self.worker.indexing();
        if let Some(p) = self.index_progress.clone() {
            egui::Frame::group(ui.style()).show(ui, |ui| {
                ui.set_width(ui.available_width());
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.strong(format!(
                        "Indexing: {} of {} files analysed ({:.0} min of audio so far)",
                        p.done,
                        p.total,
                        p.audio_seconds / 60.0
                    ));
                    if ui.button("Cancel indexing").clicked() {
                        self.cancel_indexing();
                    }
                });
                if let Some(current) = &p.current {
                    ui.label(format!("Last file: {}", current.display()));
                }
            });
            ui.add_space(6.0);
        }
        let mut rescan = None;
        let mut remove = None;
        egui::Grid::new("folders")
            .striped(true)
            .num_columns(5)
            .show(ui, |ui| {
                ui.strong("Folder");
                ui.strong("Songs");
                ui.strong("Failed");
                ui.label("");
                ui.label("");
                ui.end_row();
                for f in &self.library.folders {
                    ui.label(f.path.display().to_string());
                    ui.label(f.songs.to_string());
                    ui.label(f.errors.to_string());
                    if ui
                        .add_enabled(!indexing, egui::Button::new("Re-scan"))
                        .clicked()
                    {
                        rescan = Some(f.path.clone());
                    }
                    if ui
                        .add_enabled(!indexing, egui::Button::new("Remove"))
                        .clicked()
                    {
                        remove = Some(f.path.clone());
                    }
                    ui.end_row();
                }
            });
        if let Some(p) = rescan {
            self.index_paths(vec![p]);
        }
        if let Some(p) = remove {
            self.worker.send(Request::RemoveFolder(p));
        }
        if self.library.folders.is_empty() {
            ui.label("No folders yet.");
        }
        if !self.library.errors.is_empty() {
            ui.add_space(10.0);
            ui.strong(format!(
                "{} files could not be indexed",
                self.library.errors.len()
            ));
            egui::ScrollArea::vertical()
                .id_salt("errors")
                .max_height(220.0)
                .show(ui, |ui| {
                    egui::Grid::new("errors")
                        .striped(true)
                        .num_columns(2)
                        .show(ui, |ui| {
                            for e in &self.library.errors {
                                ui.label(e.path.display().to_string());
                                ui.label(&e.reason);
                                ui.end_row();
                            }
                        });
                });
        }
    }
}
