//! The Settings window.

use super::*;

impl EarwormApp {
    pub(super) fn settings_window(&mut self, ctx: &egui::Context) {
        let mut open = true;
        let mut new_db = None;
        egui::Window::new("Settings")
            .open(&mut open)
            .show(ctx, |ui| {
                ui.horizontal(|ui| {
                    ui.label("Theme");
                    let mut dark = self.settings.dark_mode;
                    ui.selectable_value(&mut dark, true, "Dark");
                    ui.selectable_value(&mut dark, false, "Light");
                    if dark != self.settings.dark_mode {
                        self.settings.dark_mode = dark;
                        ctx.set_theme(if dark {
                            egui::Theme::Dark
                        } else {
                            egui::Theme::Light
                        });
                    }
                });
                ui.checkbox(
                    &mut self.settings.keep_recordings,
                    "Keep recordings in the search history",
                )
                .on_hover_text("Off: the history keeps what was found, not what you hummed");
                ui.label("Library database folder");
                ui.text_edit_singleline(&mut self.db_dir_edit);
                ui.horizontal(|ui| {
                    if ui.button("Use this folder").clicked() {
                        new_db = Some(PathBuf::from(self.db_dir_edit.trim()));
                    }
                    if ui.button("Default").clicked() {
                        let d = crate::engine::Engine::default_db_dir();
                        self.db_dir_edit = d.display().to_string();
                        new_db = Some(d);
                    }
                });
            });
        self.show_settings = open;
        if let Some(dir) = new_db.filter(|d| !d.as_os_str().is_empty() && *d != self.db_dir) {
            self.change_database(ctx, dir);
        }
    }
}
