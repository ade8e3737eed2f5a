//! The `earworm` command line: index, query, library, eval and synth.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::engine::{Engine, Method};
use crate::library::{utc_time, write_history_csv, IndexOptions, QueryKind};

#[derive(Parser)]
#[command(
    name = "earworm",
    version,
    about = "Hum a tune, find the song in your own music library (offline)."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args, Clone)]
struct DbArg {
    /// Library database folder [default: the platform data directory, e.g. ~/.local/share/earworm]
    #[arg(long, value_name = "DIR")]
    db: Option<PathBuf>,
    /// Search settings (JSON; keys left out keep their defaults; see README "Search settings")
    /// [default: search.json in the platform config directory, e.g. ~/.config/earworm, if there]
    #[arg(long, value_name = "FILE")]
    search_settings: Option<PathBuf>,
}

impl DbArg {
    fn dir(&self) -> PathBuf {
        self.db.clone().unwrap_or_else(Engine::default_db_dir)
    }
    fn open(&self) -> Result<Engine> {
        let dir = self.dir();
        let mut engine = Engine::open(&dir)
            .with_context(|| format!("opening the library database in {}", dir.display()))?;
        if let Some(file) = &self.search_settings {
            engine.set_search_settings(crate::search::learned::SearchSettings::load(
                Some(file),
                None,
            )?);
        }
        Ok(engine)
    }
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Search at scale: builds (or reuses) a library of --songs songs under --cache from
    /// libraries the real pipeline indexed (the hums' own songs, then filler songs of other
    /// melodies, then songs derived from the fillers in the feature domain when they run out),
    /// then reports build and open time, memory, disk per song, query latency and accuracy over
    /// the manifest's hums, and the recall@10 of the approximate segment search against exact
    /// search on the same vectors.
    Scale {
        /// Library size in songs
        #[arg(long)]
        songs: usize,
        /// Folder for the built libraries (one per size, reused by later runs)
        #[arg(long, value_name = "DIR")]
        cache: PathBuf,
        /// Hums and their songs: a manifest CSV (query_file,target_file[,difficulty])
        #[arg(long, value_name = "CSV")]
        manifest: PathBuf,
        /// Library (database folder) holding the manifest's songs, indexed with this model
        #[arg(long, value_name = "DIR")]
        targets: PathBuf,
        /// Libraries of songs of other melodies, used in order (repeat the flag)
        #[arg(long = "fillers", value_name = "DIR")]
        fillers: Vec<PathBuf>,
        /// Queries to run: the manifest's first N rows
        #[arg(long, default_value_t = 150)]
        queries: usize,
        /// Hums whose windows measure the recall of the approximate search
        #[arg(long, default_value_t = 20)]
        recall_hums: usize,
        /// Seed of the derived songs
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Search settings file (JSON, as for `query --search-settings`)
        #[arg(long, value_name = "FILE")]
        search_settings: Option<PathBuf>,
        /// Do not derive the songs' melody segments (the melody vote then uses those already
        /// there, if any): deriving them costs about 0.2 s of CPU per song
        #[arg(long)]
        no_melody_segments: bool,
        /// Print the report as JSON on stdout
        #[arg(long)]
        json: bool,
    },
    /// Embedding speed on this machine's inference device (`earworm info`; EARWORM_DEVICE=cpu|cuda
    /// chooses): each song's log spectrogram, interval features and segment embeddings (the
    /// index's hop), timed apart, as multiples of real time and windows per second.
    Embed {
        /// Songs to embed (any supported audio format)
        #[arg(required = true, value_name = "AUDIO")]
        audio: Vec<PathBuf>,
        /// Embed everything this many times (the first pass warms the device up and is not
        /// counted when there are more)
        #[arg(long, default_value_t = 2)]
        passes: usize,
        /// Print the report as JSON on stdout
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Open the desktop app (also what `earworm` with no command does). On first run it indexes
    /// the bundled demo library into the database.
    App {
        #[command(flatten)]
        db: DbArg,
        /// Drive the app through its main states, saving screenshots and frame times into DIR,
        /// then quit (uses a fresh database in DIR/db unless --db is given).
        #[arg(long, value_name = "DIR")]
        tour: Option<PathBuf>,
    },
    /// Add or update music folders (and files) in the library; unchanged files are skipped,
    /// deleted ones forgotten. When the library changed, its songs are then searched as probes
    /// to measure hub scores (songs that fit many hums). Ctrl-C stops cleanly; the next run
    /// resumes.
    Index {
        #[command(flatten)]
        db: DbArg,
        /// Worker threads [default: number of CPU cores]
        #[arg(long)]
        threads: Option<usize>,
        /// Folders or audio files (mp3, flac, ogg, wav, aiff, m4a/aac, ...)
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Find the songs a hummed, sung or whistled recording comes from.
    Query {
        #[command(flatten)]
        db: DbArg,
        /// Number of results per query
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Print one JSON array with one object per query on stdout
        #[arg(long)]
        json: bool,
        /// Search method: learned (embedding ANN vote + contour re-ranking; falls back to
        /// baseline without a model) or baseline (contour matching alone)
        #[arg(long, default_value = "learned", value_parser = ["learned", "baseline"])]
        method: String,
        /// Recordings to search with (any supported audio format)
        #[arg(value_name = "AUDIO", required_unless_present_any = ["notes", "abc"])]
        audio: Vec<PathBuf>,
        /// Search by typed notes instead of a recording: scientific pitch names with optional
        /// lengths, e.g. "E4 D4 C4/8 D4/8 E4 E4 E4/2" (/4 quarter, the default; /8 eighth;
        /// a trailing . dots; R is a rest). Key and tempo do not matter
        #[arg(long, value_name = "NOTES", conflicts_with_all = ["audio", "abc"])]
        notes: Option<String>,
        /// Search by notes in ABC-like letters, e.g. "E D C D | E E E2" (C = middle C, c an
        /// octave up; ^ sharp, _ flat; lengths in eighths; z rest; no key signatures)
        #[arg(long, value_name = "ABC", conflicts_with_all = ["audio", "notes"])]
        abc: Option<String>,
        /// Do not keep these searches in the history (`earworm history`)
        #[arg(long)]
        no_history: bool,
    },
    /// The search history: every search made in the app or with `earworm query`, newest
    /// first. Re-run one against the library as it is now, export all as CSV, or delete.
    History {
        #[command(flatten)]
        db: DbArg,
        /// Show at most this many searches
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print the list as one JSON array
        #[arg(long)]
        json: bool,
        /// Write the whole history as CSV (one row per result) to FILE, or - for stdout
        #[arg(long, value_name = "FILE", conflicts_with_all = ["rerun", "delete", "clear"])]
        export: Option<PathBuf>,
        /// Run search ID again against the library as it is now
        #[arg(long, value_name = "ID", conflicts_with_all = ["delete", "clear"])]
        rerun: Option<i64>,
        /// Delete search ID
        #[arg(long, value_name = "ID", conflicts_with = "clear")]
        delete: Option<i64>,
        /// Delete every kept search
        #[arg(long)]
        clear: bool,
    },
    /// List the songs in the library, and files that failed with the reason.
    Library {
        #[command(flatten)]
        db: DbArg,
        /// Also check the catalog's consistency (exit status 1 if it finds a problem)
        #[arg(long)]
        check: bool,
    },
    /// Measure accuracy and latency over a manifest CSV of query_file,target_file[,difficulty].
    Eval {
        #[command(flatten)]
        db: DbArg,
        /// Manifest: paths relative to it; a `difficulty` column groups the figures
        #[arg(long, value_name = "CSV")]
        manifest: PathBuf,
        /// Also write the full report (per-query ranks) as JSON here
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// Search method: learned or baseline
        #[arg(long, default_value = "learned", value_parser = ["learned", "baseline"])]
        method: String,
        /// Replace each query by a clean rendition of the true melody segment (right key and
        /// tempo, no errors): `sine`, or `hum` (the plain synthetic hummer). Reports the song
        /// side's ceiling; needs a set made by `earworm synth devset` (melody_notes.jsonl and
        /// the manifest's start_s/end_s)
        #[arg(long, value_parser = ["sine", "hum"])]
        oracle: Option<String>,
    },
    /// Synthesize audio with known answers.
    #[command(subcommand)]
    Synth(SynthCommand),
    /// Benchmarks that print the figures the issues ask for.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Train the melody embedding on pairs from `earworm synth pairs` (on the device
    /// `earworm info` names; resumes from the checkpoint in --out). The shipped model: see models/README.md for the exact command.
    Train {
        /// Training pairs folder (shards from `earworm synth pairs --split train`)
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Pairs from dev melodies, for a retrieval check logged during training
        #[arg(long, value_name = "DIR")]
        dev: Option<PathBuf>,
        /// Output folder: checkpoints, train_log.jsonl, melody.safetensors, melody.card.json
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[arg(long, default_value_t = 3000)]
        steps: usize,
        /// Pairs per batch (each hum is contrasted with every song segment in the batch)
        #[arg(long, default_value_t = 64)]
        batch: usize,
        #[arg(long, default_value_t = 1e-3)]
        lr: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Weight of the batch-wide confidence loss; 0 = triplet loss alone (ablation)
        #[arg(long, default_value_t = 1.0)]
        confidence_weight: f32,
        /// Stop after this step, keeping the schedule of --steps (one stage of a longer run;
        /// run again with a later --until or none to go on)
        #[arg(long, value_name = "STEP")]
        until: Option<usize>,
        #[arg(long, default_value_t = 0.2)]
        margin: f32,
        #[arg(long, default_value_t = 0.1)]
        temperature: f32,
        /// Threads preparing batches (cutting, augmenting, features) ahead of the network
        /// [default: the cores but one, at least 1]
        #[arg(long)]
        batch_workers: Option<usize>,
        /// Steps of linear learning-rate warm-up before the cosine decay
        #[arg(long, default_value_t = 200)]
        warmup: usize,
        /// Where the hums' interval features are computed: `cpu` (the batch-preparation
        /// threads) or `device` (tensor ops beside the network: for a GPU fed by few cores)
        #[arg(long, value_name = "WHERE", default_value = "cpu", value_parser = ["cpu", "device"])]
        hum_features: String,
    },
    /// What this installation uses: version, model, tracker, calibration, inference device (and
    /// why that one; EARWORM_DEVICE=cpu|cuda overrides it), library folder and size.
    Info {
        #[command(flatten)]
        db: DbArg,
    },
    /// Fit the calibrated confidence (P(top answer right), from the top score and its margin)
    /// on evaluation reports (`earworm eval --report`), check it on others, and write it
    /// beside the model (models/calibration.json) for `query` and the app to use.
    Calibrate {
        /// Reports to fit on (repeatable; a split you do not report)
        #[arg(long, value_name = "JSON", required = true)]
        fit: Vec<PathBuf>,
        /// Held-out reports to check it on (repeatable)
        #[arg(long, value_name = "JSON")]
        check: Vec<PathBuf>,
        /// Share of confident answers that must be right on the fitting data
        #[arg(long, default_value_t = 0.9)]
        precision: f32,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Also write the held-out reliability table (CSV: bin, mean predicted, share right, count)
        #[arg(long, value_name = "CSV")]
        reliability: Option<PathBuf>,
    },
    /// Train the melody tracker (which semitone the tune is on in each frame of a song, in any
    /// texture) on the songs of `earworm synth pairs` shards; resumes from the checkpoint in
    /// --out. Writes tracker.safetensors and tracker.card.json: copy them beside the embedding
    /// model (models/) to use them for indexing.
    TrainTracker {
        /// Pairs folders to train on (repeatable)
        #[arg(long, value_name = "DIR", required = true)]
        data: Vec<PathBuf>,
        /// Pairs from dev melodies, for the frame accuracy logged during training
        #[arg(long, value_name = "DIR")]
        dev: Option<PathBuf>,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[arg(long, default_value_t = 1500)]
        steps: usize,
        /// Song excerpts per batch
        #[arg(long, default_value_t = 32)]
        batch: usize,
        /// Frames per excerpt (25 per second)
        #[arg(long, default_value_t = 128)]
        frames: usize,
        #[arg(long, default_value_t = 1e-3)]
        lr: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Start from these tracker weights (a fine-tune) instead of random ones; ignored when
        /// --out holds a checkpoint to resume. With more --blocks than they have, the extra
        /// blocks start as identities (the grown network computes what the given one did)
        #[arg(long, value_name = "SAFETENSORS")]
        init: Option<PathBuf>,
        /// Channels of the network's hidden layers
        #[arg(long, default_value_t = crate::model::tracker::TrackerConfig::default().hidden)]
        hidden: usize,
        /// Residual blocks (each two 3-frame convolutions)
        #[arg(long, default_value_t = crate::model::tracker::TrackerConfig::default().blocks)]
        blocks: usize,
        /// Residual blocks after --blocks whose convolutions read frames 2, 4, 8, ... apart
        /// (3 of them widen what the tracker hears around a frame from 1.5 s to 3.7 s); grown
        /// from --init weights like extra --blocks
        #[arg(long, default_value_t = 0)]
        dilated_blocks: usize,
        /// End after this many steps, the learning-rate schedule still spanning --steps
        #[arg(long, value_name = "STEPS")]
        stop_after: Option<usize>,
        /// Equalise each excerpt at random (a spectral tilt of -9 to +3 dB per octave and a
        /// bell of -9 to +6 dB), so the tracker hears timbres brighter and duller than its
        /// SoundFonts'
        #[arg(long)]
        timbre_eq: bool,
    },
    /// One-command tour: index the bundled demo library (20 songs) and search it with some of
    /// its example hums.
    Demo {
        #[command(flatten)]
        db: DbArg,
        /// A demo library folder (songs/, hums/, manifest.csv) [default: the bundled assets/demo]
        #[arg(long, value_name = "DIR")]
        library: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum SynthCommand {
    /// A library of polyphonic songs plus hummed queries and a manifest for `earworm eval`.
    Testset {
        /// Output folder (songs/, hums/, manifest.csv)
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[arg(long, default_value_t = 100)]
        songs: usize,
        #[arg(long, default_value_t = 1)]
        queries_per_song: usize,
        /// Comma-separated query difficulties, cycled: clean, medium (±6 st, 0.75–1.3x, 15 dB SNR), hard
        #[arg(long, default_value = "medium")]
        difficulty: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Songs arranged from corpus melodies and rendered with a General MIDI SoundFont.
    Songs {
        #[command(flatten)]
        set: SongSetArgs,
    },
    /// The dev evaluation set: songs from dev melodies plus hums of them (clean, medium and
    /// hard in turn) and a manifest for `earworm eval`.
    Devset {
        #[command(flatten)]
        set: SongSetArgs,
        #[arg(long, default_value_t = 3)]
        queries_per_song: usize,
    },
    /// Training pairs for `earworm train`: songs (one pass of each melody) and hums of
    /// excerpts, stored as spectrogram shards with frame-level ground truth. Resumable.
    Pairs {
        /// Output folder (pairs_NNNN.ewp shards)
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Melody split to draw from: train (for training) or dev (for the training-time check)
        #[arg(long, default_value = "train")]
        split: String,
        #[arg(long, default_value_t = 2000)]
        songs: usize,
        #[arg(long, default_value_t = 4)]
        hums_per_song: usize,
        /// Singers: train (the training pool), heldout (never in training), unusual (deep basses and
        /// children or sopranos, outside both) or all
        #[arg(long, default_value = "train")]
        voices: String,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        #[arg(long, default_value = crate::synth::gm::FLUID_GM)]
        soundfont: PathBuf,
        #[arg(long, value_name = "JSONL.GZ")]
        corpus: Option<PathBuf>,
        #[arg(long)]
        threads: Option<usize>,
        /// Share of songs (0–1) arranged in a stress texture (homophonic, inner voice, dense
        /// band, passed, sung lead, produced) rather than a distinct lead
        #[arg(long, default_value_t = 0.0)]
        textured: f32,
        /// Textures the textured songs are drawn from (comma-separated; `unseen_font` is not
        /// one: pairs are rendered with --soundfont) [default: all six]
        #[arg(long)]
        textures: Option<String>,
        /// Inner-voice songs only as octave doublings, never under a descant in the tune's own
        /// timbre (which sounds like a choir's top voice: tracker training data)
        #[arg(long)]
        no_descants: bool,
        /// What the songs' frame labels mark: melody, or second-voice (the second-highest part
        /// of one-timbre ensembles, none elsewhere: the second-voice tracker's training data)
        #[arg(long, default_value = "melody")]
        labels: String,
        /// Only these leads (comma-separated GM program numbers or names of the arranger's
        /// leads, e.g. "vibraphone,nylon guitar", or of its ensembles, e.g. "church organ",
        /// which lead only homophonic and inner-voice songs): training data for the leads a
        /// tracker misses
        #[arg(long, value_name = "PROGRAMS")]
        leads: Option<String>,
    },
    /// Hums only: hummed, sung and whistled excerpts of corpus melodies (WAV) with their
    /// ground truth in hums.csv.
    Hums {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[arg(long, default_value = "dev")]
        split: String,
        /// Number of melodies; one hum of each per difficulty
        #[arg(long, default_value_t = 20)]
        melodies: usize,
        /// Singers: all, train, heldout or unusual
        #[arg(long, default_value = "all")]
        voices: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, value_name = "JSONL.GZ")]
        corpus: Option<PathBuf>,
    },
    /// Played queries for a dev set's songs: each tune played on piano, guitar, violin, flute,
    /// trumpet or a synth lead (in turn) with human timing and a few wrong notes, through the
    /// hums' room and microphone. Writes DEVSET/played/*.wav and played/manifest.csv (its
    /// difficulty column is the instrument, so `earworm eval` reports per instrument).
    Played {
        /// A folder made by `earworm synth devset` (its songs.csv names the melodies)
        #[arg(long, value_name = "DIR")]
        devset: PathBuf,
        /// Played queries per song
        #[arg(long, default_value_t = 3)]
        per_song: usize,
        /// SoundFont for the instruments [default: TimGM6mb, which no training song used]
        #[arg(long, value_name = "SF2")]
        soundfont: Option<PathBuf>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, value_name = "JSONL.GZ")]
        corpus: Option<PathBuf>,
    },
}

#[derive(Args)]
struct SongSetArgs {
    /// Output folder (songs/, songs.csv, melody_notes.jsonl; hums/ and manifest.csv for devset)
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Melody split to draw from: train, dev or demo
    #[arg(long, default_value = "dev")]
    split: String,
    #[arg(long, default_value_t = 500)]
    songs: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// General MIDI SoundFont (.sf2) to render with
    #[arg(long, default_value = crate::synth::gm::FLUID_GM)]
    soundfont: PathBuf,
    /// Melody corpus exported by tools/export_melodies.py
    #[arg(long, value_name = "JSONL.GZ")]
    corpus: Option<PathBuf>,
    /// Sample rate of the song files
    #[arg(long, default_value_t = 22_050)]
    rate: u32,
    /// Worker threads [default: number of CPU cores]
    #[arg(long)]
    threads: Option<usize>,
    /// Singers of the hums: all, train (the training pool), heldout (never in training) or
    /// unusual (deep basses and children or sopranos, outside both; whistles up to 2.3 kHz)
    #[arg(long, default_value = "all")]
    voices: String,
    /// Song textures, cycled song by song: `standard` (a distinct lead, as training songs), `stress`
    /// (all of homophonic, inner_voice, dense_band, passed, sung_lead, produced, unseen_font), or a
    /// comma-separated list of them
    #[arg(long, default_value = "standard")]
    textures: String,
    /// SoundFont of the unseen_font texture (never used for training songs)
    #[arg(long, default_value = crate::synth::gm::TIMGM6MB)]
    unseen_soundfont: PathBuf,
    /// Keep produced-texture songs as WAV instead of encoding them at 48–96 kbit/s (MP3/Opus,
    /// with ffmpeg)
    #[arg(long)]
    no_lossy: bool,
}

fn parse_textures(s: &str) -> Result<Vec<crate::synth::gm::Texture>> {
    use crate::synth::gm::Texture;
    if s == "stress" {
        return Ok(Texture::STRESS.to_vec());
    }
    s.split(',')
        .map(|t| {
            Texture::parse(t.trim()).with_context(|| {
                format!("unknown texture {t:?} (standard, stress, homophonic, inner_voice, dense_band, passed, sung_lead, produced, unseen_font)")
            })
        })
        .collect()
}

/// Entry point of the binary: runs the command and maps errors to a message and exit status.
fn cmd_app(db: Option<PathBuf>, tour: Option<PathBuf>) -> Result<ExitCode> {
    let mut config = crate::app::AppConfig::default();
    if let (None, Some(t)) = (&db, &tour) {
        // A tour starts from an empty library, so the first-run indexing is part of it.
        let _ = std::fs::remove_dir_all(t.join("db"));
    }
    config.db_dir = db.or_else(|| tour.as_ref().map(|t| t.join("db")));
    config.tour = tour;
    crate::app::run(config)?;
    Ok(ExitCode::SUCCESS)
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        None => cmd_app(None, None),
        Some(Command::App { db, tour }) => cmd_app(db.db, tour),
        Some(Command::Index { db, threads, paths }) => cmd_index(&db, threads, &paths),
        Some(Command::Query {
            db,
            top,
            json,
            method,
            audio,
            notes,
            abc,
            no_history,
        }) => {
            let typed = match (notes, abc) {
                (Some(n), _) => Some((n.clone(), crate::notes::parse_scientific(&n)?)),
                (_, Some(a)) => Some((a.clone(), crate::notes::parse_abc(&a)?)),
                _ => None,
            };
            let options = QueryOptions {
                top,
                json,
                method: parse_method(&method),
                keep_history: !no_history,
            };
            cmd_query(&db, &options, &audio, typed)
        }
        Some(Command::History {
            db,
            limit,
            json,
            export,
            rerun,
            delete,
            clear,
        }) => cmd_history(&db, limit, json, export.as_deref(), rerun, delete, clear),
        Some(Command::Library { db, check }) => cmd_library(&db, check),
        Some(Command::Eval {
            db,
            manifest,
            report,
            method,
            oracle,
        }) => cmd_eval(
            &db,
            &manifest,
            report.as_deref(),
            parse_method(&method),
            oracle.as_deref(),
        ),
        Some(Command::Bench(BenchCommand::Embed {
            audio,
            passes,
            json,
        })) => {
            let embedder = crate::model::Embedder::load_default()?;
            eprintln!("device: {}", embedder.device_choice.describe());
            let speed = crate::bench::embed_speed(&embedder, &audio, passes)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&speed)?);
            } else {
                println!("{speed}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Bench(BenchCommand::Scale {
            songs,
            cache,
            manifest,
            targets,
            fillers,
            queries,
            recall_hums,
            seed,
            search_settings,
            no_melody_segments,
            json,
        })) => cmd_bench_scale(
            songs,
            &cache,
            &manifest,
            crate::bench::ScaleSources {
                targets,
                fillers,
                seed,
            },
            queries,
            recall_hums,
            search_settings.as_deref(),
            !no_melody_segments,
            json,
        ),
        Some(Command::Synth(SynthCommand::Testset {
            out,
            songs,
            queries_per_song,
            difficulty,
            seed,
        })) => cmd_synth_testset(out, songs, queries_per_song, &difficulty, seed),
        Some(Command::Demo { db, library }) => cmd_demo(&db, library),
        Some(Command::Synth(SynthCommand::Songs { set })) => cmd_song_set(&set, 0),
        Some(Command::Synth(SynthCommand::Devset {
            set,
            queries_per_song,
        })) => cmd_song_set(&set, queries_per_song),
        Some(Command::Synth(SynthCommand::Pairs {
            out,
            split,
            songs,
            hums_per_song,
            voices,
            seed,
            soundfont,
            corpus,
            threads,
            textured,
            textures,
            no_descants,
            labels,
            leads,
        })) => cmd_synth_pairs(
            textured,
            textures.as_deref(),
            !no_descants,
            &labels,
            leads.as_deref(),
            out,
            &split,
            songs,
            hums_per_song,
            &voices,
            seed,
            soundfont,
            corpus,
            threads,
        ),
        Some(Command::Synth(SynthCommand::Hums {
            out,
            split,
            melodies,
            voices,
            seed,
            corpus,
        })) => cmd_synth_hums(out, &split, melodies, &voices, seed, corpus),
        Some(Command::Synth(SynthCommand::Played {
            devset,
            per_song,
            soundfont,
            seed,
            corpus,
        })) => {
            use crate::synth::{corpus as melodies, gm, played};
            let all = melodies::load(&corpus.unwrap_or_else(melodies::default_path))?;
            let font_path = soundfont.unwrap_or_else(|| PathBuf::from(gm::TIMGM6MB));
            let font = gm::load_soundfont(&font_path)?;
            let started = std::time::Instant::now();
            let summary = played::generate_played(&all, &devset, per_song, &font, seed)?;
            eprintln!(
                "{} played queries in {:.0} s; evaluate with `earworm eval --manifest {}`",
                summary.queries,
                started.elapsed().as_secs_f64(),
                summary.manifest.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Info { db }) => cmd_info(&db),
        Some(Command::Calibrate {
            fit,
            check,
            precision,
            out,
            reliability,
        }) => cmd_calibrate(&fit, &check, precision, &out, reliability.as_deref()),
        Some(Command::TrainTracker {
            data,
            dev,
            out,
            steps,
            batch,
            frames,
            lr,
            seed,
            init,
            hidden,
            blocks,
            dilated_blocks,
            stop_after,
            timbre_eq,
        }) => {
            if hidden == 0 || blocks == 0 {
                anyhow::bail!("--hidden and --blocks must be at least 1");
            }
            if dilated_blocks > 6 {
                anyhow::bail!("--dilated-blocks is at most 6 (the sixth reads frames 128 apart)");
            }
            let config = crate::train::tracker::TrackerTrainConfig {
                data,
                dev,
                out,
                steps,
                batch,
                frames,
                lr,
                seed,
                init,
                hidden,
                blocks,
                dilated_blocks,
                stop_after,
                timbre_eq,
            };
            let card = crate::train::tracker::train_tracker(&config, &mut |l| eprintln!("{l}"))?;
            println!("{}", serde_json::to_string_pretty(&card)?);
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Train {
            data,
            dev,
            out,
            steps,
            batch,
            lr,
            seed,
            confidence_weight,
            margin,
            temperature,
            until,
            batch_workers,
            warmup,
            hum_features,
        }) => {
            let config = crate::train::TrainConfig {
                data,
                dev,
                out,
                steps,
                batch,
                lr,
                seed,
                margin,
                temperature,
                confidence_weight,
                checkpoint_every: 100,
                eval_every: 250,
                until,
                batch_workers,
                warmup,
                hum_features_on_device: hum_features == "device",
            };
            let card = crate::train::train(&config, &mut |line| eprintln!("{line}"))?;
            eprintln!(
                "wrote {} and {} to {}",
                crate::model::WEIGHTS_FILE,
                crate::model::CARD_FILE,
                config.out.display()
            );
            println!("{}", serde_json::to_string_pretty(&card.training)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn cmd_song_set(args: &SongSetArgs, queries_per_song: usize) -> Result<ExitCode> {
    use crate::synth::{corpus, devset, Difficulty};
    let split = corpus::Split::parse(&args.split)
        .with_context(|| format!("unknown split {:?} (train, dev, demo)", args.split))?;
    let corpus_path = args.corpus.clone().unwrap_or_else(corpus::default_path);
    let melodies = corpus::load(&corpus_path)?;
    let spec = devset::SongSetSpec {
        split,
        songs: args.songs,
        queries_per_song,
        difficulties: vec![Difficulty::Clean, Difficulty::Medium, Difficulty::Hard],
        seed: args.seed,
        soundfont: args.soundfont.clone(),
        song_rate: args.rate,
        hum_rate: 44_100,
        voices: parse_voices(&args.voices)?,
        threads: threads_or_cores(args.threads),
        textures: parse_textures(&args.textures)?,
        unseen_soundfont: Some(args.unseen_soundfont.clone()),
        lossy: !args.no_lossy,
    };
    let pb = bar(
        args.songs as u64,
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} songs  ETA {eta}",
    );
    let summary = devset::generate(&melodies, &args.out, &spec, &|done, _| {
        pb.set_position(done as u64)
    })?;
    pb.finish_and_clear();
    let secs = summary.render_seconds;
    eprintln!(
        "{} songs ({:.2} h of audio) and {} queries {:?} in {:.1} s: {:.0}x real time overall ({} threads)",
        summary.songs,
        summary.song_seconds / 3600.0,
        summary.queries,
        summary.query_counts,
        secs,
        summary.song_seconds / secs.max(1e-9),
        spec.threads
    );
    Ok(ExitCode::SUCCESS)
}

fn parse_voices(s: &str) -> Result<crate::synth::VoicePool> {
    crate::synth::VoicePool::parse(s)
        .with_context(|| format!("unknown voice pool {s:?} (all, train, heldout, unusual)"))
}

fn threads_or_cores(threads: Option<usize>) -> usize {
    threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

#[allow(clippy::too_many_arguments)]
fn cmd_synth_pairs(
    textured: f32,
    textures: Option<&str>,
    descants: bool,
    labels: &str,
    leads: Option<&str>,
    out: PathBuf,
    split: &str,
    songs: usize,
    hums_per_song: usize,
    voices: &str,
    seed: u64,
    soundfont: PathBuf,
    corpus_path: Option<PathBuf>,
    threads: Option<usize>,
) -> Result<ExitCode> {
    use crate::synth::{corpus, pairs};
    let split = corpus::Split::parse(split)
        .with_context(|| format!("unknown split {split:?} (train, dev, demo)"))?;
    let melodies = corpus::load(&corpus_path.unwrap_or_else(corpus::default_path))?;
    let spec = pairs::PairsSpec {
        split,
        songs,
        hums_per_song,
        voices: parse_voices(voices)?,
        seed,
        soundfont,
        threads: threads_or_cores(threads),
        textured,
        textures: match textures {
            Some(t) => {
                let list = parse_textures(t)?;
                if list.contains(&crate::synth::gm::Texture::UnseenFont) {
                    anyhow::bail!("unseen_font is not a training texture: pairs are rendered with --soundfont");
                }
                list
            }
            None => crate::synth::gm::Texture::STRESS[..6].to_vec(),
        },
        descants,
        labels: pairs::SongLabels::parse(labels)
            .with_context(|| format!("unknown labels {labels:?} (melody, second-voice)"))?,
        leads: match leads {
            Some(list) => {
                crate::synth::gm::parse_lead_programs(list).map_err(anyhow::Error::msg)?
            }
            None => Vec::new(),
        },
    };
    let pb = bar(
        songs as u64,
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} songs  ETA {eta}",
    );
    let s = pairs::generate(&melodies, &out, &spec, &|done, _| {
        pb.set_position(done as u64)
    })?;
    pb.finish_and_clear();
    eprintln!(
        "{} shards written ({} already there): {} songs ({:.2} h), {} hums ({:.2} h), {:.1} MB in {:.1} s: {:.0}x real time",
        s.shards_written,
        s.shards_skipped,
        s.songs,
        s.song_seconds / 3600.0,
        s.hums,
        s.hum_seconds / 3600.0,
        s.bytes as f64 / 1e6,
        s.seconds,
        (s.song_seconds + s.hum_seconds) / s.seconds.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}

fn cmd_synth_hums(
    out: PathBuf,
    split: &str,
    melodies: usize,
    voices: &str,
    seed: u64,
    corpus_path: Option<PathBuf>,
) -> Result<ExitCode> {
    use crate::synth::{corpus, devset};
    let split = corpus::Split::parse(split)
        .with_context(|| format!("unknown split {split:?} (train, dev, demo)"))?;
    let all = corpus::load(&corpus_path.unwrap_or_else(corpus::default_path))?;
    let n = devset::generate_hums(&all, &out, split, melodies, parse_voices(voices)?, seed)?;
    eprintln!(
        "{n} hums written to {} (ground truth in hums.csv)",
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn cmd_demo(db: &DbArg, library: Option<PathBuf>) -> Result<ExitCode> {
    let demo = match library {
        Some(d) => d,
        None => crate::library::bundled_demo_dir().context(
            "the bundled demo library (assets/demo) is missing; rebuild it with tools/make_demo_library.sh",
        )?,
    };
    let manifest = demo.join("manifest.csv");
    eprintln!(
        "indexing the demo library {} into {} ...",
        demo.join("songs").display(),
        db.dir().display()
    );
    cmd_index(db, None, &[demo.join("songs")])?;
    let rows = crate::eval::read_manifest(&manifest)?;
    let picks: Vec<_> = rows.iter().step_by(4).take(5).collect();
    let mut engine = db.open()?;
    let method = effective_method(&engine, Method::Learned);
    for row in picks {
        let result = engine
            .query_file_with(&row.query, 3, method)
            .with_context(|| format!("querying {}", row.query.display()))?;
        let want = std::fs::canonicalize(&row.target).unwrap_or_else(|_| row.target.clone());
        let want_title = engine
            .catalog()
            .songs()?
            .into_iter()
            .find(|s| s.path == want)
            .map_or_else(|| want.display().to_string(), |s| s.title);
        println!("\n{} (a hum of \"{want_title}\"):", row.query.display());
        for (i, m) in result.matches.iter().enumerate() {
            let a = &m.found.alignment;
            println!(
                "  {}. {:<40} score {:.3}  at {}–{}  (hummed {:+} semitones, {:.0}% of the song's tempo){}",
                i + 1,
                truncate(&m.song.title, 40),
                m.found.score,
                mmss(m.found.start_s),
                mmss(m.found.end_s),
                a.key_shift.round() as i32,
                a.tempo * 100.0,
                if m.song.path == want { "  <- right song" } else { "" }
            );
        }
    }
    println!(
        "\nTry your own: earworm query --db {} <recording>",
        db.dir().display()
    );
    Ok(ExitCode::SUCCESS)
}

fn bar(len: u64, template: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.enable_steady_tick(Duration::from_millis(200));
    pb
}

fn cmd_index(db: &DbArg, threads: Option<usize>, paths: &[PathBuf]) -> Result<ExitCode> {
    let mut engine = db.open()?;
    print_device(&engine);
    let mut options = IndexOptions::default();
    if let Some(t) = threads {
        options.threads = t.max(1);
    }
    let cancel = options.cancel.clone();
    // First Ctrl-C: finish the files in flight and stop; the catalog stays consistent.
    let _ = ctrlc::set_handler(move || {
        if cancel.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nstopping after the files in flight (Ctrl-C again to quit now)...");
    });
    let pb = bar(
        0,
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} files  {per_sec}  ETA {eta}  {msg}",
    );
    let mut probing = false;
    let report = engine.index(paths, &options, &mut |p| {
        if p.probes_total > 0 {
            // Last: the library's own songs searched as probes, for the hub scores.
            if !probing {
                probing = true;
                pb.reset();
                if let Ok(style) = ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} songs  ETA {eta}  {msg}",
                ) {
                    pb.set_style(style);
                }
            }
            pb.set_length(p.probes_total as u64);
            pb.set_position(p.probes_done as u64);
            pb.set_message("probed (hub scores: songs that fit many hums)");
            return;
        }
        if p.melodies_total > 0 {
            // After the files: melodies of songs indexed before the melody vote existed.
            pb.set_length(p.melodies_total as u64);
            pb.set_position(p.melodies_done as u64);
            pb.set_message("melodies embedded (songs indexed by an older version)");
            return;
        }
        pb.set_length(p.total as u64);
        pb.set_position(p.done as u64);
        if let Some(name) = p.current.as_ref().and_then(|c| c.file_name()) {
            pb.set_message(name.to_string_lossy().into_owned());
        }
    })?;
    pb.finish_and_clear();
    for m in &report.missing {
        eprintln!("warning: {} does not exist", m.display());
    }
    // The analysis rate is of the files' step alone (probing is reported on its own).
    let secs = report
        .elapsed
        .saturating_sub(report.hub_elapsed)
        .as_secs_f64();
    eprintln!(
        "{} audio files: {} added, {} updated, {} unchanged, {} failed, {} removed{}; {} other files ignored",
        report.found,
        report.added,
        report.updated,
        report.unchanged,
        report.failed,
        report.removed,
        if report.cancelled { " (stopped early: run again to finish)" } else { "" },
        report.ignored
    );
    if report.audio_seconds > 0.0 {
        eprintln!(
            "analysed {:.1} min of audio in {:.1} s ({:.0}x real time)",
            report.audio_seconds / 60.0,
            secs,
            report.audio_seconds / secs.max(1e-9)
        );
    }
    if report.failed > 0 {
        eprintln!("see `earworm library` for the reasons files failed");
    }
    if report.melodies_derived > 0 {
        eprintln!(
            "melody segments added for {} songs indexed by an older version",
            report.melodies_derived
        );
    }
    if let Some(why) = &report.hub_error {
        eprintln!("warning: hub scores were not measured ({why}); searches run without them");
    }
    if report.hub_probes > 0 {
        eprintln!(
            "hub scores measured with {} probes of the library's own songs in {:.1} s",
            report.hub_probes,
            report.hub_elapsed.as_secs_f64()
        );
    }
    // Bring the segment index up to date now (new songs join their cells; nothing is rebuilt
    // unless the library changed a lot), so the next search starts at once.
    let changed = report.added + report.updated + report.removed + report.melodies_derived > 0;
    if changed && !report.cancelled && engine.embedder().is_some() {
        let started = std::time::Instant::now();
        engine.warm_up()?;
        eprintln!(
            "search index up to date in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let nothing = report.found == 0 && !report.missing.is_empty();
    Ok(if nothing || report.cancelled {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn parse_method(s: &str) -> Method {
    Method::parse(s).unwrap_or(Method::Learned)
}

/// The method that will actually answer, telling the user when the learned one cannot.
fn effective_method(engine: &Engine, method: Method) -> Method {
    if method == Method::Learned {
        if let Some(why) = engine.model_problem() {
            eprintln!("note: using the baseline search: {why}");
            return Method::Baseline;
        }
        if let Ok(n) = engine.songs_needing_embeddings() {
            if n > 0 {
                eprintln!("note: {n} songs are not analysed for this model and melody tracker yet; run `earworm index` again to update them");
            }
        }
        if let Ok(n) = engine.songs_needing_melody_segments() {
            if n > 0 {
                eprintln!("note: {n} songs were indexed by an older version and lack melody segments; run `earworm index` on your folders to add them (unchanged files are not read again)");
            }
        }
    }
    method
}

struct QueryOptions {
    top: usize,
    json: bool,
    method: Method,
    keep_history: bool,
}

fn cmd_query(
    db: &DbArg,
    options: &QueryOptions,
    audio: &[PathBuf],
    typed: Option<(String, Vec<crate::notes::TypedNote>)>,
) -> Result<ExitCode> {
    let (top, json) = (options.top, options.json);
    let mut engine = db.open()?;
    print_device(&engine);
    let method = effective_method(&engine, options.method);
    if engine.catalog().song_count()? == 0 {
        anyhow::bail!(
            "the library in {} is empty: run `earworm index <music folder>` first",
            db.dir().display()
        );
    }
    // A library structure that cannot load is reported, and each query then says why it
    // failed: `--json` keeps its one-array contract whatever happens.
    if let Err(e) = engine.warm_up_for(method) {
        eprintln!("warning: {e}");
    }
    let mut out = Vec::new();
    let mut failures = 0;
    // Typed notes are one query, named by the notes as typed.
    let queries: Vec<PathBuf> = match &typed {
        Some((text, _)) => vec![PathBuf::from(text)],
        None => audio.to_vec(),
    };
    for path in &queries {
        let started = std::time::Instant::now();
        let result = match &typed {
            Some((_, notes)) => match crate::notes::query_audio(notes) {
                Ok(samples) => engine.query_samples_with(&samples, top.max(1), method),
                Err(e) => Err(crate::engine::EngineError::Notes(e)),
            },
            None => engine.query_file_with(path, top.max(1), method),
        };
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(r) => {
                if options.keep_history {
                    // The history is a convenience: a read-only database still answers.
                    let (kind, query) = match &typed {
                        Some((text, _)) => (QueryKind::Notes, text.clone()),
                        None => (
                            QueryKind::File,
                            std::path::absolute(path)
                                .unwrap_or_else(|_| path.clone())
                                .display()
                                .to_string(),
                        ),
                    };
                    if let Err(e) = engine.remember(kind, &query, None, &r) {
                        eprintln!("warning: the search was not kept in the history: {e}");
                    }
                }
                if !json {
                    println!("{} ({elapsed_ms:.0} ms)", path.display());
                    print_matches(&r);
                }
                out.push(
                    serde_json::json!({"query": path, "elapsed_ms": round3(elapsed_ms as f32),
                    "confidence": r.confidence.map(|c| round3(c.probability)),
                    "confident": r.confidence.map(|c| c.confident),
                    "results": results_json(&r)}),
                );
            }
            Err(e) => {
                failures += 1;
                // A library whose songs were all analysed by another model or melody tracker
                // searches as empty: say what to do about it instead.
                let stale = matches!(
                    e,
                    crate::engine::EngineError::Search(crate::search::SearchError::EmptyLibrary)
                ) && engine.catalog().song_count().unwrap_or(0) > 0;
                let e = if stale {
                    format!(
                        "none of the library's {} songs is analysed for this model and melody tracker yet: run `earworm index` to update them",
                        engine.catalog().song_count().unwrap_or(0)
                    )
                } else {
                    e.to_string()
                };
                eprintln!("error: {}: {e}", path.display());
                out.push(serde_json::json!({"query": path, "elapsed_ms": round3(elapsed_ms as f32), "results": [], "error": e.to_string()}));
            }
        }
    }
    if json {
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut stdout, &out)?;
        writeln!(stdout)?;
    }
    Ok(if failures == queries.len() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn results_json(r: &crate::engine::QueryResult) -> Vec<serde_json::Value> {
    r.matches
        .iter()
        .enumerate()
        .map(|(i, m)| {
            serde_json::json!({
                "rank": i + 1,
                "path": m.song.path,
                "title": m.song.title,
                "artist": m.song.artist,
                "score": round3(m.found.score),
                "start_s": round3(m.found.start_s),
                "end_s": round3(m.found.end_s),
                "line": line_name(m.found.line),
            })
        })
        .collect()
}

/// Which of a song's lines a match followed, as the CLI names it.
fn line_name(line: crate::search::MatchedLine) -> &'static str {
    match line {
        crate::search::MatchedLine::Melody => "melody",
        crate::search::MatchedLine::SecondVoice => "second voice",
    }
}

/// The confidence line and the ranked table of one answer.
fn print_matches(r: &crate::engine::QueryResult) {
    match r.confidence {
        Some(c) if c.confident => println!("  confident match: {}% likely right", c.percent()),
        Some(c) => println!(
            "  no confident match ({}% likely right): best guesses",
            c.percent()
        ),
        None => {}
    }
    println!(
        "  {:>4}  {:>6}  {:>15}  {:<40}  {}",
        "rank", "score", "matched at", "title", "artist"
    );
    for (i, m) in r.matches.iter().enumerate() {
        println!(
            "  {:>4}  {:>6.3}  {:>15}  {:<40}  {}{}",
            i + 1,
            m.found.score,
            format!("{}–{}", mmss(m.found.start_s), mmss(m.found.end_s)),
            truncate(&m.song.title, 40),
            m.song.artist,
            match m.found.line {
                crate::search::MatchedLine::Melody => "",
                crate::search::MatchedLine::SecondVoice => "  (on an inner voice)",
            }
        );
    }
}

fn cmd_history(
    db: &DbArg,
    limit: usize,
    json: bool,
    export: Option<&Path>,
    rerun: Option<i64>,
    delete: Option<i64>,
    clear: bool,
) -> Result<ExitCode> {
    let mut engine = db.open()?;
    if clear {
        let n = engine.catalog_mut().clear_history()?;
        eprintln!("deleted {n} searches from the history");
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(id) = delete {
        if !engine.catalog_mut().delete_history(id)? {
            anyhow::bail!("there is no search {id} in the history (see `earworm history`)");
        }
        eprintln!("deleted search {id}");
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(id) = rerun {
        let (entry, r) = engine.rerun(id, 10)?;
        if json {
            let value = serde_json::json!({"search": id, "query": entry.query,
                "confidence": r.confidence.map(|c| round3(c.probability)),
                "confident": r.confidence.map(|c| c.confident),
                "results": results_json(&r)});
            println!("{}", serde_json::to_string_pretty(&value)?);
        } else {
            println!(
                "search {id} again: {} \"{}\"",
                entry.kind.as_str(),
                entry.query
            );
            print_matches(&r);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(file) = export {
        if file == Path::new("-") {
            let all = engine.catalog().history(usize::MAX)?;
            write_history_csv(&all, &mut std::io::stdout().lock())?;
        } else {
            let n = engine.catalog().export_history(file)?;
            eprintln!("wrote {n} searches to {}", file.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let entries = engine.catalog().history(limit)?;
    if json {
        let list: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| {
                serde_json::json!({"id": e.id, "at": e.at, "time_utc": utc_time(e.at),
                    "kind": e.kind.as_str(), "query": e.query, "kept_recording": e.has_recording,
                    "confidence": e.confidence.map(round3), "results": e.results})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        println!("No searches kept yet: every `earworm query` and app search is listed here.");
    }
    for e in &entries {
        let best = e.results.first().map_or("no results".to_string(), |r| {
            format!("{} ({:.2})", truncate(&r.title, 36), r.score)
        });
        println!(
            "  {:>5}  {} UTC  {:<5}  {:<40}  {best}",
            e.id,
            utc_time(e.at),
            e.kind.as_str(),
            truncate(&e.query, 40)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn round3(x: f32) -> f64 {
    (x as f64 * 1000.0).round() / 1000.0
}

fn mmss(s: f32) -> String {
    let s = s.max(0.0);
    format!("{}:{:04.1}", (s / 60.0) as u32, s % 60.0)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}

fn cmd_library(db: &DbArg, check: bool) -> Result<ExitCode> {
    let engine = db.open()?;
    let catalog = engine.catalog();
    let songs = catalog.songs()?;
    let errors = catalog.errors()?;
    println!("Library: {}", catalog.path().display());
    for f in catalog.folders()? {
        println!(
            "  folder {}  ({} songs, {} failed)",
            f.path.display(),
            f.songs,
            f.errors
        );
    }
    println!("\n{} songs", songs.len());
    for s in &songs {
        let artist = if s.artist.is_empty() { "-" } else { &s.artist };
        println!(
            "  {:<40}  {:<24}  {:>7}  {}",
            truncate(&s.title, 40),
            truncate(artist, 24),
            mmss(s.duration_s as f32),
            s.path.display()
        );
    }
    if !errors.is_empty() {
        println!("\n{} files failed", errors.len());
        for e in &errors {
            println!("  {}: {}", e.path.display(), e.reason);
        }
    }
    if check {
        let problems = catalog.check()?;
        if problems.is_empty() {
            println!("\ncatalog check: ok");
        } else {
            for p in &problems {
                println!("catalog check: {p}");
            }
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What `earworm bench scale` reports.
#[derive(serde::Serialize)]
struct ScaleReport {
    songs: usize,
    makeup: crate::bench::LibraryMakeup,
    segments: usize,
    cells: usize,
    /// Melody segments (the melody vote's index), and the time spent deriving those that
    /// were missing.
    melody_segments: usize,
    melody_derive_s: f64,
    /// First open after the library was written: the segment index is built (cells trained).
    index_build_s: f64,
    /// A fresh open of the built library: catalog, model and saved segment index loaded.
    open_s: f64,
    resident_mb_after_open: f64,
    index_memory_mb: f64,
    disk_bytes_per_song: f64,
    queries: usize,
    top1: f64,
    top10: f64,
    failed: usize,
    median_ms: f64,
    p95_ms: f64,
    ann_recall_at_10: f64,
    ann_probe: usize,
    contour_pool: usize,
    /// Mean time per stage over the queries that succeeded.
    mean_stage_ms: crate::search::learned::StageTimes,
}

#[allow(clippy::too_many_arguments)]
fn cmd_bench_scale(
    songs: usize,
    cache: &std::path::Path,
    manifest: &std::path::Path,
    sources: crate::bench::ScaleSources,
    queries: usize,
    recall_hums: usize,
    settings_file: Option<&std::path::Path>,
    derive_melodies: bool,
    json: bool,
) -> Result<ExitCode> {
    use std::time::Instant;
    anyhow::ensure!(songs > 0, "--songs must be at least 1");
    let rows = crate::eval::read_manifest(manifest)?;
    let rows: Vec<_> = rows.into_iter().take(queries.max(1)).collect();
    let dir = cache.join(format!("lib-{songs}"));
    let settings = crate::search::learned::SearchSettings::load(
        settings_file,
        Engine::default_settings_file().as_deref(),
    )?;
    let open = |dir: &std::path::Path| -> Result<Engine> {
        let mut engine = Engine::open(dir)
            .with_context(|| format!("opening the library database in {}", dir.display()))?;
        engine.set_search_settings(settings.clone());
        if engine.embedder().is_none() {
            anyhow::bail!(
                "no melody model: {}",
                engine.model_problem().unwrap_or("unknown reason")
            );
        }
        Ok(engine)
    };
    let (model, melody_version) = {
        let engine = open(&sources.targets)?;
        let model = engine.embedder().map(|e| e.id.clone()).unwrap_or_default();
        (model, engine.catalog().melody_version())
    };
    let pb = bar(
        songs as u64,
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} songs written",
    );
    let makeup = crate::bench::build_library(
        &dir,
        songs,
        &sources,
        &model,
        melody_version,
        &mut |done, _| pb.set_position(done as u64),
    )?;
    pb.finish_and_clear();
    eprintln!(
        "library of {songs} songs in {}: {} with hums, {} fillers, {} derived{}",
        dir.display(),
        makeup.target_songs,
        makeup.filler_songs,
        makeup.derived_songs,
        if makeup.build_s > 0.0 {
            format!(" (written in {:.1} s)", makeup.build_s)
        } else {
            " (reused)".into()
        }
    );
    // The songs' melody segments, derived from their stored melodies (once: kept in the
    // cached library).
    let started = Instant::now();
    let melodies_derived = if derive_melodies {
        let mut engine = open(&dir)?;
        let embedder = engine.embedder().cloned().context("no model")?;
        let pb = bar(
            0,
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} melodies embedded  ETA {eta}",
        );
        let n = crate::library::derive_melody_segments(
            engine.catalog_mut(),
            &embedder,
            &std::sync::atomic::AtomicBool::new(false),
            &mut |done, total| {
                pb.set_length(total as u64);
                pb.set_position(done as u64);
            },
        )?;
        pb.finish_and_clear();
        n
    } else {
        0
    };
    let melody_derive_s = started.elapsed().as_secs_f64();
    if melodies_derived > 0 {
        eprintln!("melody segments derived for {melodies_derived} songs in {melody_derive_s:.0} s");
    }
    // The first open builds (or brings up to date) the segment index; the second is what a
    // user's next start costs.
    let started = Instant::now();
    let mut engine = open(&dir)?;
    engine.warm_up()?;
    let index_build_s = started.elapsed().as_secs_f64();
    drop(engine);
    let started = Instant::now();
    let mut engine = open(&dir)?;
    engine.warm_up()?;
    let open_s = started.elapsed().as_secs_f64();
    let resident = crate::bench::resident_bytes().unwrap_or(0);
    let (segments, cells, melody_segments, index_memory, recall) = {
        let embedder = engine.embedder().cloned().context("no model")?;
        let mut windows = Vec::new();
        for row in rows.iter().take(recall_hums) {
            let (samples, _) = crate::audio::decode_file(&row.query)
                .with_context(|| format!("reading {}", row.query.display()))?;
            windows.extend(
                crate::search::learned::embed_query(&embedder, &samples, &settings.query)?.all(),
            );
        }
        let index = engine
            .segment_index_now()?
            .context("the library has no segment index")?;
        let approx = index.nearest_many(&windows, 10, &settings.ann);
        let exact = index.exact_many(&windows, 10);
        let (points, cells) = index.shape();
        let index_bytes = index.memory_bytes();
        let (melody_points, melody_bytes) = engine
            .melody_segment_index_now()?
            .map_or((0, 0), |m| (m.shape().0, m.memory_bytes()));
        (
            points,
            cells,
            melody_points,
            index_bytes + melody_bytes,
            crate::bench::recall(&approx, &exact),
        )
    };
    let pb = bar(
        rows.len() as u64,
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} queries",
    );
    let report = crate::eval::evaluate(&mut engine, Method::Learned, &rows, &mut |done, _| {
        pb.set_position(done as u64)
    })?;
    pb.finish_and_clear();
    let m = &report.overall;
    let ok: Vec<_> = report
        .outcomes
        .iter()
        .filter(|o| o.error.is_none())
        .collect();
    let mean = |f: &dyn Fn(&crate::search::learned::StageTimes) -> f32| {
        ok.iter().map(|o| f(&o.times)).sum::<f32>() / ok.len().max(1) as f32
    };
    let mean_stage_ms = crate::search::learned::StageTimes {
        analyse_ms: mean(&|t| t.analyse_ms),
        pitch_ms: mean(&|t| t.pitch_ms),
        embed_ms: mean(&|t| t.embed_ms),
        vote_ms: mean(&|t| t.vote_ms),
        contour_ms: mean(&|t| t.contour_ms),
        scan_ms: mean(&|t| t.scan_ms),
        align_ms: mean(&|t| t.align_ms),
        rerank_ms: mean(&|t| t.rerank_ms),
    };
    let out = ScaleReport {
        songs,
        makeup,
        segments,
        cells,
        melody_segments,
        melody_derive_s,
        index_build_s,
        open_s,
        resident_mb_after_open: resident as f64 / 1e6,
        index_memory_mb: index_memory as f64 / 1e6,
        disk_bytes_per_song: crate::bench::folder_bytes(&dir) as f64 / songs as f64,
        queries: m.queries,
        top1: m.top1,
        top10: m.top10,
        failed: m.failed,
        median_ms: m.median_ms,
        p95_ms: m.p95_ms,
        ann_recall_at_10: recall,
        ann_probe: settings.ann.probe,
        contour_pool: settings.contour_pool,
        mean_stage_ms,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{} songs ({} segments in {} cells, {} melody segments): index build {:.1} s, open {:.2} s, resident {:.0} MB (index {:.0} MB), {:.0} KB on disk per song",
            out.songs,
            out.segments,
            out.cells,
            out.melody_segments,
            out.index_build_s,
            out.open_s,
            out.resident_mb_after_open,
            out.index_memory_mb,
            out.disk_bytes_per_song / 1024.0
        );
        println!(
            "{} queries: top-1 {:.3}, top-10 {:.3} ({} failed); latency median {:.0} ms, p95 {:.0} ms; ANN recall@10 {:.3} (probe {})",
            out.queries, out.top1, out.top10, out.failed, out.median_ms, out.p95_ms, out.ann_recall_at_10, out.ann_probe
        );
        let t = &out.mean_stage_ms;
        println!(
            "mean per stage: hum analysis {:.0} ms (pitch {:.0}, embeddings {:.0} side by side), vote {:.0} ms, contour channel {:.0} ms (pool {}: scan {:.0}, align {:.0}), re-ranking {:.0} ms",
            t.analyse_ms, t.pitch_ms, t.embed_ms, t.vote_ms, t.contour_ms, out.contour_pool, t.scan_ms, t.align_ms, t.rerank_ms
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_eval(
    db: &DbArg,
    manifest: &std::path::Path,
    report_path: Option<&std::path::Path>,
    method: Method,
    oracle: Option<&str>,
) -> Result<ExitCode> {
    use crate::eval::QuerySource;
    let rows = crate::eval::read_manifest(manifest)?;
    let source = oracle
        .map(|o| QuerySource::parse(o).context("unknown oracle (sine, hum)"))
        .transpose()?
        .unwrap_or(QuerySource::Recording);
    let notes = if source == QuerySource::Recording {
        Default::default()
    } else {
        if rows.iter().any(|r| r.span_s.is_none()) {
            anyhow::bail!(
                "--oracle needs start_s and end_s columns in {} (a set from `earworm synth devset`)",
                manifest.display()
            );
        }
        crate::eval::read_melody_notes(manifest)?
    };
    let mut engine = db.open()?;
    let method = effective_method(&engine, method);
    if engine.catalog().song_count()? == 0 {
        anyhow::bail!(
            "the library in {} is empty: index the manifest's songs first",
            db.dir().display()
        );
    }
    let pb = bar(
        rows.len() as u64,
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} queries  ETA {eta}",
    );
    let report = crate::eval::evaluate_with(
        &mut engine,
        method,
        &rows,
        source,
        &notes,
        &mut |done, _| pb.set_position(done as u64),
    )?;
    pb.finish_and_clear();
    if !report.missing_targets.is_empty() {
        eprintln!(
            "warning: {} targets are not in the library (counted as misses), e.g. {}",
            report.missing_targets.len(),
            report.missing_targets[0].display()
        );
    }
    println!(
        "{} songs in library, {} queries{}, method {}",
        engine.catalog().song_count()?,
        rows.len(),
        match source {
            QuerySource::Recording => "",
            QuerySource::OracleSine => " (oracle: sine of the true melody segment)",
            QuerySource::OracleHum => " (oracle: plain hum of the true melody segment)",
        },
        match method {
            Method::Learned => format!(
                "learned ({})",
                engine.embedder().map_or("?".into(), |e| e.id.clone())
            ),
            Method::Baseline => "baseline".into(),
        }
    );
    println!(
        "{:<12} {:>7} {:>6} {:>6} {:>6} {:>6} {:>10} {:>9} {:>7}",
        "group", "queries", "top1", "top5", "top10", "MRR", "median ms", "p95 ms", "failed"
    );
    let line = |name: &str, m: &crate::eval::Metrics| {
        println!(
            "{:<12} {:>7} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>10.1} {:>9.1} {:>7}",
            name, m.queries, m.top1, m.top5, m.top10, m.mrr, m.median_ms, m.p95_ms, m.failed
        )
    };
    line("overall", &report.overall);
    for (name, m) in report.by_difficulty.iter().chain(&report.by_texture) {
        line(name, m);
    }
    if let Some(c) = &report.confidence {
        let share = |n: usize, of: usize| 100.0 * n as f64 / of.max(1) as f64;
        if c.known > 0 {
            println!(
                "calibrated confidence: {} of {} answers shown as confident, {:.1}% of them right; {:.1}% of right answers hidden",
                c.known_confident,
                c.known,
                share(c.known_confident_right, c.known_confident),
                share(
                    c.known_right_hidden,
                    c.known_right_hidden + c.known_confident_right
                ),
            );
        }
        if c.unknown > 0 {
            println!(
                "hums of songs not in the library: {} of {} answered with a confident (wrong) match",
                c.unknown_confident, c.unknown
            );
        }
    }
    if let Some(p) = report_path {
        std::fs::write(p, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One line on stderr: where inference runs and why (nothing without a model).
fn print_device(engine: &Engine) {
    if let Some(e) = engine.embedder() {
        eprintln!("inference on {}", e.device_choice.describe());
    }
}

fn cmd_info(db: &DbArg) -> Result<ExitCode> {
    println!("earworm {}", env!("CARGO_PKG_VERSION"));
    println!("device: {}", crate::model::device_choice().describe());
    let engine = db.open()?;
    match engine.embedder() {
        Some(e) => {
            println!("model: {} ({})", e.id, e.dir.display());
            match &e.tracker {
                Some(t) => println!(
                    "melody tracker: {}{}",
                    t.id,
                    if t.has_second_voice() {
                        " (with the second-voice tracker)"
                    } else {
                        ""
                    }
                ),
                None => println!("melody tracker: none (harmonic-summation melody extraction)"),
            }
        }
        None => println!(
            "model: none ({}); searches use the baseline method",
            engine.model_problem().unwrap_or("not found")
        ),
    }
    println!(
        "calibrated confidence: {}",
        if engine.calibration().is_some() {
            "yes"
        } else {
            "no"
        }
    );
    println!(
        "library: {} ({} songs)",
        db.dir().display(),
        engine.catalog().song_count()?
    );
    if engine.embedder().is_some() {
        let (songs, lacking) = (
            engine.catalog().song_count()?,
            engine.songs_needing_melody_segments()? as i64,
        );
        println!(
            "melody segments (the melody vote): {} of {songs} songs{}",
            songs - lacking,
            if lacking > 0 {
                "; run `earworm index` on your folders to add the rest"
            } else {
                ""
            }
        );
        let hubs = engine.hub_scores()?.len();
        println!(
            "hub scores (songs that fit many hums): {hubs} of {songs} songs{}",
            if hubs == 0 && songs > 0 {
                "; run `earworm index` on your folders to measure them"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// (scores, top answer right?) of every answered query in eval reports.
fn calibration_samples(reports: &[PathBuf]) -> Result<Vec<(Vec<f32>, bool)>> {
    let mut out = Vec::new();
    for path in reports {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let report: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not an eval report", path.display()))?;
        let outcomes = report["outcomes"]
            .as_array()
            .with_context(|| format!("{} has no outcomes", path.display()))?;
        for o in outcomes {
            let scores: Vec<f32> = o["scores"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_f64())
                        .map(|v| v as f32)
                        .collect()
                })
                .unwrap_or_default();
            if scores.is_empty() {
                continue;
            }
            out.push((scores, o["rank"].as_u64() == Some(1)));
        }
    }
    Ok(out)
}

fn cmd_calibrate(
    fit: &[PathBuf],
    check: &[PathBuf],
    precision: f32,
    out: &std::path::Path,
    reliability: Option<&std::path::Path>,
) -> Result<ExitCode> {
    use crate::search::confidence::{check as check_on, Calibration};
    let samples = calibration_samples(fit)?;
    let mut cal = Calibration::fit(&samples, precision)?;
    let fitted = check_on(&cal, &samples);
    let held = calibration_samples(check)?;
    let held_check = (!held.is_empty()).then(|| check_on(&cal, &held));
    cal.fitted_on = serde_json::json!({
        "fit_reports": fit.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "check_reports": check.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "target_precision": precision,
        "fit": fitted,
        "check": held_check,
    });
    std::fs::write(out, serde_json::to_string_pretty(&cal)?)
        .with_context(|| format!("writing {}", out.display()))?;
    println!(
        "P(right) = sigmoid({:.3} + {:.3} * top score + {:.3} * margin); confident at P >= {:.3}",
        cal.bias, cal.w_score, cal.w_margin, cal.threshold
    );
    let show = |name: &str, c: &crate::search::confidence::CalibrationCheck| {
        println!(
            "{name}: {} queries, {} right at rank 1; {} shown as confident, {:.1}% of them right; {:.1}% of right answers hidden",
            c.queries,
            c.right,
            c.confident,
            100.0 * c.precision,
            100.0 * c.hidden_right_share
        )
    };
    show("fit", &fitted);
    if let Some(c) = &held_check {
        show("held out", c);
    }
    if let Some(path) = reliability {
        let mut csv = String::from("bin_low,bin_high,mean_predicted,share_right,count\n");
        for b in 0..10 {
            let (lo, hi) = (b as f32 / 10.0, (b + 1) as f32 / 10.0);
            let in_bin: Vec<(f32, bool)> = held
                .iter()
                .map(|(s, r)| (cal.probability(s), *r))
                .filter(|(p, _)| *p >= lo && (*p < hi || (b == 9 && *p <= 1.0)))
                .collect();
            let n = in_bin.len().max(1) as f32;
            csv.push_str(&format!(
                "{lo:.1},{hi:.1},{:.4},{:.4},{}\n",
                in_bin.iter().map(|x| x.0).sum::<f32>() / n,
                in_bin.iter().filter(|x| x.1).count() as f32 / n,
                in_bin.len()
            ));
        }
        std::fs::write(path, csv).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_synth_testset(
    out: PathBuf,
    songs: usize,
    queries_per_song: usize,
    difficulty: &str,
    seed: u64,
) -> Result<ExitCode> {
    use crate::synth::{testset, Difficulty};
    let difficulties = difficulty
        .split(',')
        .map(|d| {
            Difficulty::parse(d.trim())
                .with_context(|| format!("unknown difficulty {d:?} (clean, medium, hard)"))
        })
        .collect::<Result<Vec<_>>>()?;
    let spec = testset::TestsetSpec {
        songs,
        queries_per_song: queries_per_song.max(1),
        difficulties,
        seed,
        ..Default::default()
    };
    let pb = bar(
        songs as u64,
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} songs  ETA {eta}",
    );
    let started = std::time::Instant::now();
    let summary = testset::generate(&out, &spec, &mut |done, _| pb.set_position(done as u64))
        .with_context(|| format!("writing the test set to {}", out.display()))?;
    pb.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{} songs ({:.1} min of audio) and {} queries in {:.1} s ({:.0}x real time); manifest: {}",
        summary.songs,
        summary.song_seconds / 60.0,
        summary.queries,
        secs,
        summary.song_seconds / secs.max(1e-9),
        summary.manifest.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hum_of_a_song_the_library_lacks_is_a_wrong_answer_to_calibrate_on() {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("r.json");
        let outcomes = serde_json::json!({"outcomes": [
            {"scores": [0.9, 0.7], "rank": 1},
            {"scores": [0.8, 0.79], "rank": 3},
            {"scores": [0.71, 0.70], "rank": null},
            {"scores": [], "rank": null, "error": "could not decode"},
        ]});
        std::fs::write(&report, outcomes.to_string()).unwrap();
        let samples = calibration_samples(&[report]).unwrap();
        let right: Vec<bool> = samples.iter().map(|s| s.1).collect();
        assert_eq!(
            right,
            vec![true, false, false],
            "a failed query is left out"
        );
        assert_eq!(samples[2].0, vec![0.71, 0.70]);
    }
}
