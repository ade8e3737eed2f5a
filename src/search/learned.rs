//! The learned search, one pipeline: the hum is analysed once (its pitch contour and window
//! embeddings at a few time stretches, by the engine); each window's nearest song segments come
//! from the library's segment index and songs are scored by their votes; the vote's best few,
//! joined by the contour channel's best few among the vote's larger pool, are aligned by the
//! baseline's contour alignment (which supplies the matched start/end and the alignment path)
//! and ranked by that alignment plus two embedding scores of the hum against each song's
//! segments. No stage reads the whole library: the index reads the cells nearest each window,
//! the contour channel at most [`SearchSettings::contour_pool`] songs.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::hub::HubScores;
use super::{Match, MelodySearcher, SearchError};
use crate::library::{AnnSettings, CatalogError, SegmentIndex};
use crate::melody::Contour;
use crate::model::features::{self, Spectrogram};
use crate::model::{Embedder, ModelError};

/// Hum windows are this many frames apart (0.96 s): as accurate as 0.48 s on the dev set at
/// 1,000 songs and a third faster (`earworm bench scale`, docs/MEASURED.md "Scale").
const QUERY_HOP: usize = 24;
/// Time stretches applied to the hum before embedding: hums are often slower or faster.
const QUERY_STRETCHES: [f32; 3] = [0.8, 1.0, 1.25];
/// Windows per stretch at most (see [`QueryWindows::max_windows`]).
const QUERY_MAX_WINDOWS: usize = 8;

/// How a hum is cut into windows for embedding (part of [`SearchSettings`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryWindows {
    /// Frames between windows (25 frames a second).
    pub hop: usize,
    /// Time stretches applied to the hum, each embedded.
    pub stretches: Vec<f32>,
    /// At most about this many windows per stretch (0: no limit): a long hum's windows are
    /// spread further apart instead, so its analysis, vote and re-ranking cost no more than a
    /// hum of ~12 s while the windows still cover all of it.
    pub max_windows: usize,
}

impl QueryWindows {
    /// Frames between the windows of a clip of `frames` frames cut into windows of `window`:
    /// the hop, or wider where that would make more than [`Self::max_windows`] windows.
    pub fn hop_for(&self, frames: usize, window: usize) -> usize {
        let span = frames.saturating_sub(window);
        match self.max_windows {
            0 | 1 => self.hop,
            most => self.hop.max(span.div_ceil(most - 1)),
        }
        .max(1)
    }
}

impl Default for QueryWindows {
    fn default() -> Self {
        Self {
            hop: QUERY_HOP,
            stretches: QUERY_STRETCHES.to_vec(),
            max_windows: QUERY_MAX_WINDOWS,
        }
    }
}
/// Nearest segments per query window.
const NEIGHBOURS: usize = 40;
/// The re-ranking's candidates come from two channels: the embedding vote's best
/// [`SHORTLIST`] songs and the contour search's best [`CONTOUR_SHORTLIST`] by its stage 1 over
/// a pool of songs; the channels miss different hums (dev set: 95.5% and 93.0% recall alone,
/// 98.7% together). Chosen with the weights below on the first 600 dev queries
/// (tools/tune_rerank.py; vote lists of 50 and 100 tie there, 50 is faster).
/// [`SearchSettings`] carries them.
const SHORTLIST: usize = 50;
const CONTOUR_SHORTLIST: usize = 20;
/// The contour channel's pool: the whole library up to this many songs, beyond that the
/// vote's best this many (so its cost stops growing with the library; `earworm bench scale`
/// measures what it keeps).
const CONTOUR_POOL: usize = 200;
/// Songs the melody channel adds to that pool in a larger library without melody segments.
const MELODY_POOL: usize = 200;
/// The melody vote: the hum's windows voting over the songs' melody segments (each song's
/// melody alone, played as a sine and embedded: [`crate::model::Embedder::embed_melody`]). Its
/// best [`MELODY_VOTE_SHORTLIST`] songs join the candidates and its best [`MELODY_VOTE_POOL`]
/// the contour channel's pool in a larger library. A hum is closer to its song's melody alone
/// than to the mix, so this finds songs the audio vote misses (docs/MEASURED.md "Scale").
/// Chosen on the dev hums' tuning half at 1,000 and 10,000 songs: the pool is what brings the
/// gain (pools of 200–400 tie, shortlists of 0–30 tie), and reading 6 cells of its index per
/// window finds as much as 24.
const MELODY_VOTE_SHORTLIST: usize = 10;
const MELODY_VOTE_POOL: usize = 300;
const MELODY_VOTE_PROBE: usize = 6;
/// Songs with a second voice that join the contour channel's pool whatever the votes say (the
/// vote's best first). Both votes embed the song's mix or its tracked melody, so a tune under a
/// descant ranks low in both and reached the pool in a 392-song library only when every song
/// was scanned (stress set tuning half, inner voices top-10 0.768 → 0.911 with all songs in
/// the pool: docs/MEASURED.md "Real recordings, stage 6"). Such songs are few in most
/// libraries (1.5% of dev songs, 11% of the additive-synthesis ones), and scanning one costs
/// ~0.06 ms.
const SECOND_VOICE_POOL: usize = 400;
/// Weights of the embedding evidence in the final score, relative to the contour alignment's 1:
/// the vote, [`EmbeddingScores::dense`] and [`EmbeddingScores::diagonal`]. Chosen on the tuning
/// halves of the texture-stress set and dev200 together (tools/tune_rerank.py with both dumps):
/// the embedding helps on standard songs but misleads on four-part and inner-voice pieces,
/// where 0.2 each cost the stress set 4 points of top-1 (docs/MEASURED.md, stage 4).
const VOTE_WEIGHT: f32 = 0.0;
const DENSE_WEIGHT: f32 = 0.05;
const DIAGONAL_WEIGHT: f32 = 0.1;
const MELODY_VOTE_WEIGHT: f32 = 0.0;
/// Where a song's mix carries its tune less plainly ([`mix_melody_agreement`] under
/// `ENSEMBLE_AGREEMENT.1`, fully under `.0`), the mix's evidence gives way to the melody vote:
/// [`TextureWeights`]. Chosen offline on the choosing sets' candidate dumps (tools/tune_rerank.py
/// --fusion-texture, twenty-second session): a plateau from 0.3–0.4 to 0.7–0.75, melody vote
/// 0.05; true four-part pieces agree 0.32 on average, dev songs 0.74.
const ENSEMBLE_AGREEMENT: (f32, f32) = (0.35, 0.7);
const ENSEMBLE_MELODY_VOTE_WEIGHT: f32 = 0.05;
/// Share of a song's hub statistic's lead over the library's mean taken off its fused score
/// ([`super::hub`]; libraries without hub statistics are unaffected).
pub const HUB_WEIGHT: f32 = 0.25;
/// Extra alignment cost per warping step: 0.1–0.2 a plateau on the choosing sets, 0.3 loses
/// hums (docs/MEASURED.md, sixteenth session). The baseline search keeps none.
pub(crate) const WARP_STEP_COST: f32 = 0.15;
/// Share of the warped alignment in a match's score (the baseline keeps 0.5; 0.6–0.7 a plateau
/// on the choosing sets with the warping cost, docs/MEASURED.md, sixteenth session).
pub(crate) const DTW_SHARE: f32 = 0.65;

#[derive(Debug, thiserror::Error)]
pub enum LearnedError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Ann(#[from] crate::library::AnnError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error("search settings {path}: {why}")]
    Settings { path: PathBuf, why: String },
}

/// A hum's window embeddings: for each stretch, its windows in time order, `hops[stretch]`
/// frames apart in the stretched spectrogram.
pub struct QueryEmbeddings {
    pub per_stretch: Vec<Vec<Vec<f32>>>,
    pub hops: Vec<usize>,
}

impl QueryEmbeddings {
    /// Every window, whatever its stretch.
    pub fn all(&self) -> Vec<Vec<f32>> {
        self.per_stretch.iter().flatten().cloned().collect()
    }
}

/// How well the hum's windows match one song's segments, from the embeddings alone.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EmbeddingScores {
    /// Mean over hum windows of the best cosine with any of the song's segments.
    pub dense: f32,
    /// Like `dense`, but every window must match at one common offset (the hum laid along the
    /// song in order, as sung): best offset and stretch.
    pub diagonal: f32,
}

/// How plainly a song's mix carries its stored tune: the mean cosine between each mix segment
/// and the melody segment made from the stored line at the same time, over the segments where
/// both sound. High where a lead sits over a light accompaniment; low where the tune is one
/// voice of many, or where the stored line strays. None for a song without melody segments, or
/// where no segment sounds in both.
pub fn mix_melody_agreement(
    index: &SegmentIndex,
    melody_index: &SegmentIndex,
    song: i64,
) -> Option<f32> {
    let (mix, tune) = (index.song_vectors(song)?, melody_index.song_vectors(song)?);
    let (mut total, mut n) = (0.0f32, 0usize);
    for j in 0..mix.len().min(tune.len()) {
        if !mix.is_silent(j) && !tune.is_silent(j) {
            total += mix.similarity_with(j, &tune, j);
            n += 1;
        }
    }
    (n > 0).then(|| total / n as f32)
}

/// [`EmbeddingScores`] of a song: compares every hum window with every segment of the song.
pub fn embedding_scores(
    index: &SegmentIndex,
    query: &QueryEmbeddings,
    song: i64,
) -> EmbeddingScores {
    let Some(segments) = index.song_vectors(song) else {
        return EmbeddingScores::default();
    };
    let n_seg = segments.len();
    let (mut dense_sum, mut dense_n, mut diagonal) = (0.0f32, 0usize, 0.0f32);
    let mut sims = Vec::new();
    for (windows, &query_hop) in query.per_stretch.iter().zip(&query.hops) {
        if windows.is_empty() || n_seg == 0 {
            continue;
        }
        sims.clear();
        for w in windows {
            sims.extend((0..n_seg).map(|j| segments.similarity(w, j)));
        }
        for row in sims.chunks(n_seg) {
            dense_sum += row.iter().copied().fold(f32::MIN, f32::max).max(0.0);
            dense_n += 1;
        }
        // Window i starts hop·i frames into the hum; at offset o (in frames) it lies on the
        // segment starting nearest to o + hop·i. Offsets step half a segment hop.
        let hop = crate::model::SONG_SEGMENT_HOP as f32;
        let n_w = windows.len();
        let first = -((query_hop * n_w) as f32);
        let steps = ((n_seg as f32 * hop - first) / (hop / 2.0)).ceil() as usize + 1;
        for k in 0..steps {
            let o = first + k as f32 * hop / 2.0;
            let mut total = 0.0;
            for (i, row) in sims.chunks(n_seg).enumerate() {
                let j = ((o + (query_hop * i) as f32) / hop).round();
                if j >= 0.0 && (j as usize) < n_seg {
                    total += row[j as usize].max(0.0);
                }
            }
            diagonal = diagonal.max(total / n_w as f32);
        }
    }
    EmbeddingScores {
        dense: if dense_n > 0 {
            dense_sum / dense_n as f32
        } else {
            0.0
        },
        diagonal,
    }
}

/// Query embeddings of a hum: windows at several stretches.
pub fn embed_query(
    embedder: &Embedder,
    samples: &[f32],
    windows: &QueryWindows,
) -> Result<QueryEmbeddings, ModelError> {
    let spec = features::spectrogram(&embedder.params, samples);
    embed_query_spectrogram(embedder, &spec, windows)
}

pub fn embed_query_spectrogram(
    embedder: &Embedder,
    spec: &Spectrogram,
    windows: &QueryWindows,
) -> Result<QueryEmbeddings, ModelError> {
    use rayon::prelude::*;
    let window = embedder.params.window_frames;
    // Every stretch's windows go through the network in one batch.
    let cut: Vec<(usize, Vec<f32>)> = windows
        .stretches
        .par_iter()
        .map(|&stretch| {
            let stretched = spec.stretch(stretch);
            let hop = windows.hop_for(stretched.frames(), window);
            (hop, embedder.query_windows(&stretched, hop))
        })
        .collect();
    let all: Vec<f32> = cut.iter().flat_map(|(_, w)| w.iter().copied()).collect();
    let mut embedded = embedder.embed_windows(&all)?.into_iter();
    let per_window = embedder.params.channels() * window;
    let per_stretch = cut
        .iter()
        .map(|(_, w)| embedded.by_ref().take(w.len() / per_window).collect())
        .collect();
    Ok(QueryEmbeddings {
        per_stretch,
        hops: cut.iter().map(|(hop, _)| *hop).collect(),
    })
}

/// Per-song vote: for each query window, a song's best similarity among the window's
/// neighbours; summed over windows and divided by their number (a mean best cosine).
pub fn vote(index: &SegmentIndex, queries: &[Vec<f32>], ann: &AnnSettings) -> Vec<(i64, f32)> {
    let mut score: HashMap<i64, f32> = HashMap::new();
    for neighbours in index.nearest_many(queries, NEIGHBOURS, ann) {
        let mut best: HashMap<i64, f32> = HashMap::new();
        for n in neighbours {
            let b = best.entry(n.song).or_insert(f32::MIN);
            *b = b.max(n.similarity);
        }
        for (song, sim) in best {
            *score.entry(song).or_insert(0.0) += sim.max(0.0);
        }
    }
    let n = queries.len().max(1) as f32;
    let mut ranked: Vec<(i64, f32)> = score.into_iter().map(|(s, v)| (s, v / n)).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked
}

/// Where a learned query's time went, per stage (milliseconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct StageTimes {
    /// The hum analysed: pitch contour and window embeddings (side by side).
    pub analyse_ms: f32,
    /// Within the analysis, each side's own time: the pitch contour and the embeddings.
    pub pitch_ms: f32,
    pub embed_ms: f32,
    /// Nearest segments of every window and the per-song vote.
    pub vote_ms: f32,
    /// The contour channel: its pool scanned from the sketches, the chosen songs' melodies read
    /// and aligned.
    pub contour_ms: f32,
    /// Within the contour channel: the pool's scan, and reading and aligning the chosen songs.
    pub scan_ms: f32,
    pub align_ms: f32,
    /// Embedding scores of the candidates and the final ranking.
    pub rerank_ms: f32,
}

fn ms_since(t: std::time::Instant) -> f32 {
    t.elapsed().as_secs_f32() * 1000.0
}

/// Where the contour channel's songs come from: the catalog's stored melodies of given songs,
/// with their second lines ([`crate::library::Catalog::melody_lines_of`]).
pub type MelodySource<'a> =
    dyn Fn(&[i64]) -> Result<Vec<crate::library::MelodyLines>, CatalogError> + 'a;

/// What the learned search reads of a library: its segment index, its melody segments' index
/// (when it has one), its hub statistics (when measured) and its stored melody lines.
#[derive(Clone, Copy)]
pub struct LibraryView<'a> {
    pub index: &'a SegmentIndex,
    pub melody_index: Option<&'a SegmentIndex>,
    pub hub: Option<&'a HubScores>,
    pub melodies: &'a MelodySource<'a>,
}

/// The full learned search: vote, shortlist, contour channel over its pool, re-ranking. Songs
/// the contour stage cannot align keep their vote (with no alignment), so a hum the pitch
/// tracker struggles with still gets answers. The best `top`.
pub fn search(
    library: LibraryView,
    query: &QueryEmbeddings,
    hum: &Contour,
    top: usize,
    settings: &SearchSettings,
    times: &mut StageTimes,
) -> Result<Vec<Match>, LearnedError> {
    let shortlist = settings.shortlist.max(top);
    let mut out = search_all(library, query, hum, shortlist, settings, times)?;
    out.truncate(top);
    Ok(out)
}

/// [`search`]'s every candidate, best first: the vote's best `shortlist` songs and those the
/// other channels add.
pub fn search_all(
    library: LibraryView,
    query: &QueryEmbeddings,
    hum: &Contour,
    shortlist: usize,
    settings: &SearchSettings,
    times: &mut StageTimes,
) -> Result<Vec<Match>, LearnedError> {
    let LibraryView {
        index,
        melody_index,
        hub,
        melodies,
    } = library;
    if index.is_empty() {
        return Err(SearchError::EmptyLibrary.into());
    }
    let started = std::time::Instant::now();
    let windows = query.all();
    let ranked = vote(index, &windows, &settings.ann);
    let melody_vote_used = settings.melody_vote_shortlist > 0
        || settings.melody_vote_pool > 0
        || settings.melody_vote > 0.0
        || (settings.by_texture.enabled && settings.by_texture.melody_vote > 0.0);
    let by_melody: Vec<(i64, f32)> = match melody_index {
        Some(m) if !m.is_empty() && melody_vote_used => vote(
            m,
            &windows,
            &AnnSettings {
                probe: settings.melody_vote_probe,
            },
        ),
        _ => Vec::new(),
    };
    times.vote_ms = ms_since(started);
    let started = std::time::Instant::now();
    let vote_of: HashMap<i64, f32> = ranked.iter().copied().collect();
    let mut candidates: Vec<(i64, f32)> = ranked.iter().copied().take(shortlist).collect();
    let mut ids: HashSet<i64> = candidates.iter().map(|s| s.0).collect();
    let from_vote = candidates.len();
    for &(song, _) in by_melody.iter().take(settings.melody_vote_shortlist) {
        if ids.insert(song) {
            candidates.push((song, vote_of.get(&song).copied().unwrap_or(0.0)));
        }
    }
    // The contour channel adds the pool's best stage-1 songs the vote missed (see SHORTLIST
    // for why): the whole library when it is small, else the vote's best songs.
    let aligned: HashMap<i64, (usize, Match)> = if settings.contour_shortlist == 0 {
        align_only(melodies, hum, &ids, settings)?
    } else {
        let mut pool: Vec<i64> = if index.song_count() <= settings.contour_pool {
            index.song_ids()
        } else {
            // The n-gram channel stands in for the melody vote where the library has no
            // melody segments (it adds nothing beside it: docs/MEASURED.md "Scale").
            let by_tune = if by_melody.is_empty() {
                index.melody_candidates(&hum.note_moves(), settings.melody_pool)
            } else {
                Vec::new()
            };
            ranked
                .iter()
                .take(settings.contour_pool)
                .chain(&by_tune)
                .chain(by_melody.iter().take(settings.melody_vote_pool))
                .map(|s| s.0)
                .chain(second_voice_pool(index, &ranked, settings))
                .collect()
        };
        pool.extend(ids.iter().copied());
        pool.sort_unstable();
        pool.dedup();
        // The pool is scanned from the index's in-memory sketches; only the songs that join
        // the candidates are read from the catalog and aligned.
        let scanner =
            MelodySearcher::from_sketches(pool.iter().filter_map(|&s| Some((s, index.sketch(s)?))))
                .with_second_voice_sketches(
                    pool.iter()
                        .filter(|_| settings.second_voice)
                        .filter_map(|&s| Some((s, index.voice_sketch(s)?))),
                    settings.second_voice_penalty,
                );
        let ranked_pool = match scanner.scan(hum) {
            Ok(r) => r,
            Err(SearchError::NotEnoughMelody { .. }) | Err(SearchError::EmptyLibrary) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        times.scan_ms = ms_since(started);
        let mut chosen = ids.clone();
        chosen.extend(ranked_pool.iter().take(settings.contour_shortlist).copied());
        let rank_in_pool: HashMap<i64, usize> = ranked_pool
            .iter()
            .enumerate()
            .map(|(r, &s)| (s, r))
            .collect();
        align_only(melodies, hum, &chosen, settings)?
            .into_iter()
            .map(|(song, (rank, m))| (song, (rank_in_pool.get(&song).copied().unwrap_or(rank), m)))
            .collect()
    };
    times.contour_ms = ms_since(started);
    times.align_ms = times.contour_ms - times.scan_ms;
    let started = std::time::Instant::now();
    let melody_vote_of: HashMap<i64, f32> = by_melody.iter().copied().collect();
    let mut extra: Vec<i64> = aligned
        .keys()
        .filter(|id| !ids.contains(id))
        .copied()
        .collect();
    extra.sort_unstable();
    candidates.extend(
        extra
            .into_iter()
            .map(|id| (id, vote_of.get(&id).copied().unwrap_or(0.0))),
    );
    let scores: Vec<EmbeddingScores> = super::parallel_map(&candidates, |&(song, _)| {
        embedding_scores(index, query, song)
    });
    let melody_vote_and_hub_lead = |song: i64| {
        (
            melody_vote_of.get(&song).copied().unwrap_or(0.0),
            hub.map_or(0.0, |h| h.lead(song)),
        )
    };
    let agreements: Vec<Option<f32>> = match melody_index {
        Some(m) if settings.by_texture.enabled || settings.dump_candidates.is_some() => candidates
            .iter()
            .map(|&(song, _)| mix_melody_agreement(index, m, song))
            .collect(),
        _ => vec![None; candidates.len()],
    };
    if let Some(path) = &settings.dump_candidates {
        dump_candidates(
            path,
            &candidates,
            from_vote,
            &aligned,
            &scores,
            melody_vote_and_hub_lead,
            &agreements,
        );
    }
    let mut out: Vec<Match> = candidates
        .iter()
        .zip(&scores)
        .zip(&agreements)
        .map(|((&(song, vote), embedded), &agreement)| {
            let found = aligned.get(&song).map(|(_, m)| m.clone()).unwrap_or(Match {
                song_id: song,
                score: 0.0,
                start_s: 0.0,
                end_s: 0.0,
                alignment: Default::default(),
                line: Default::default(),
            });
            let (melody_vote, hub_lead) = melody_vote_and_hub_lead(song);
            Match {
                score: settings.fuse(found.score, vote, melody_vote, embedded, agreement)
                    - settings.hub * hub_lead,
                ..found
            }
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    times.rerank_ms = ms_since(started);
    Ok(out)
}

/// The songs with a second voice that join the contour channel's pool (see
/// [`SECOND_VOICE_POOL`]): those the audio vote ranked first, then the rest by id.
fn second_voice_pool(
    index: &SegmentIndex,
    ranked: &[(i64, f32)],
    settings: &SearchSettings,
) -> Vec<i64> {
    if !settings.second_voice || settings.second_voice_pool == 0 {
        return Vec::new();
    }
    let mut voiced = index.songs_with_second_voice();
    let vote_rank: HashMap<i64, usize> = ranked
        .iter()
        .enumerate()
        .map(|(r, &(song, _))| (song, r))
        .collect();
    voiced.sort_by_key(|song| (vote_rank.get(song).copied().unwrap_or(usize::MAX), *song));
    voiced.truncate(settings.second_voice_pool);
    voiced
}

/// The contour alignment of the shortlisted songs only (the contour channel off).
fn align_only(
    melodies: &MelodySource,
    hum: &Contour,
    ids: &HashSet<i64>,
    settings: &SearchSettings,
) -> Result<HashMap<i64, (usize, Match)>, LearnedError> {
    let mut songs: Vec<i64> = ids.iter().copied().collect();
    songs.sort_unstable();
    // Each song's lines split between the melody searcher and its second voices (moved, not
    // copied: this runs for every query).
    let mut voices: Vec<(i64, Contour)> = Vec::new();
    let searcher = MelodySearcher::with_alternatives(melodies(&songs)?.into_iter().map(|l| {
        if let Some(voice) = l.second_voice.filter(|_| settings.second_voice) {
            voices.push((l.song_id, voice));
        }
        (
            l.song_id,
            l.melody,
            l.second_line.filter(|_| settings.second_line),
        )
    }))
    .with_second_line_cost(settings.second_line_cost)
    .with_second_line_switch_cost(settings.second_line_switch_cost)
    .with_warp_step_cost(settings.warp_step_cost)
    .with_dtw_share(settings.dtw_share)
    .with_second_voices(voices, settings.second_voice_penalty);
    Ok(match searcher.align_candidates(hum, ids) {
        Ok(ms) => ms
            .into_iter()
            .map(|(rank, m)| (m.song_id, (rank, m)))
            .collect(),
        Err(SearchError::NotEnoughMelody { .. }) | Err(SearchError::EmptyLibrary) => HashMap::new(),
        Err(e) => return Err(e.into()),
    })
}

/// The learned search's tunable parameters: how many songs each channel passes to the
/// re-ranking, how the final score weighs the contour alignment against the embedding evidence,
/// and how much of the segment index a query reads. Defaults were tuned on the dev set (see the
/// constants above). Loaded once, at the edge ([`SearchSettings::load`]: defaults, then a JSON
/// settings file, then `EARWORM_*` environment variables; the CLI's flags last) and passed
/// down: nothing in the query path reads the environment.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchSettings {
    /// Songs the embedding vote passes on (`EARWORM_SHORTLIST`).
    pub shortlist: usize,
    /// Songs the contour channel adds from its pool; 0 turns it off
    /// (`EARWORM_CONTOUR_SHORTLIST`).
    pub contour_shortlist: usize,
    /// The contour channel's pool: the whole library up to this many songs, beyond that the
    /// vote's best this many (`EARWORM_CONTOUR_POOL`) and the melody channel's best
    /// [`Self::melody_pool`].
    pub contour_pool: usize,
    /// Songs the melody channel (the n-gram index of pitch moves, [`crate::library::grams`])
    /// adds to the contour channel's pool in a large library without melody segments (where
    /// the melody vote runs instead) (`EARWORM_MELODY_POOL`).
    pub melody_pool: usize,
    /// Songs the melody vote (the hum against the songs' melody segments) passes on
    /// (`EARWORM_MELODY_VOTE_SHORTLIST`), and adds to the contour channel's pool in a large
    /// library (`EARWORM_MELODY_VOTE_POOL`). Libraries without melody segments skip it.
    pub melody_vote_shortlist: usize,
    pub melody_vote_pool: usize,
    /// Cells of the melody segments' index read per hum window (`EARWORM_MELODY_VOTE_PROBE`;
    /// the audio's is `ann.probe`).
    pub melody_vote_probe: usize,
    /// Whether the alignment may follow a song's second pitch line where it is nearer the hum
    /// (`EARWORM_SECOND_LINE`: 1 turns it on; songs without one align on their melody alone).
    pub second_line: bool,
    /// Extra cost per frame of following the second line instead of the melody
    /// (`EARWORM_SECOND_LINE_COST`; the alignment's frame costs run 0–2).
    pub second_line_cost: f32,
    /// Cost of each move between the melody and the second line; 0 lets every frame take the
    /// nearer one (`EARWORM_SECOND_LINE_SWITCH_COST`).
    pub second_line_switch_cost: f32,
    /// Extra cost per warping step of the alignment (a song or hum frame skipped;
    /// `EARWORM_WARP_STEP_COST`; the alignment's frame costs run 0–2).
    pub warp_step_cost: f32,
    /// Share of a match's alignment score from the warped (DTW) alignment, the rest from the
    /// rigid placement that found it (`EARWORM_DTW_SHARE`, 0–1).
    pub dtw_share: f32,
    /// Whether songs with a second voice (the tune under a descant) are also aligned on it
    /// (`EARWORM_SECOND_VOICE`: 0 turns it off), and what a match on it scores less than one
    /// on the melody (`EARWORM_SECOND_VOICE_PENALTY`).
    pub second_voice: bool,
    pub second_voice_penalty: f32,
    /// Songs with a second voice scanned by the contour channel whatever the votes say
    /// (`EARWORM_SECOND_VOICE_POOL`; 0: only those the votes bring).
    pub second_voice_pool: usize,
    /// Weights relative to the alignment's 1 (`EARWORM_VOTE_WEIGHT`, `EARWORM_DENSE_WEIGHT`,
    /// `EARWORM_DIAGONAL_WEIGHT`, `EARWORM_MELODY_VOTE_WEIGHT`).
    pub vote: f32,
    pub dense: f32,
    pub diagonal: f32,
    pub melody_vote: f32,
    /// Share of a song's hub lead taken off its score (`EARWORM_HUB_WEIGHT`; 0 turns the
    /// correction off).
    pub hub: f32,
    /// The weights above are for songs whose mix carries the tune plainly; these take over
    /// where it does not.
    pub by_texture: TextureWeights,
    /// The segment index's search (`EARWORM_ANN_PROBE`: cells read per hum window).
    pub ann: AnnSettings,
    /// How the hum is cut into windows (`EARWORM_QUERY_HOP`, `EARWORM_QUERY_STRETCHES`, e.g.
    /// "0.8,1,1.25").
    pub query: QueryWindows,
    /// Append every query's candidates with all their scores here, for tools/tune_rerank.py
    /// (`EARWORM_DUMP_CANDIDATES`; not a settings-file entry).
    #[serde(skip)]
    pub dump_candidates: Option<PathBuf>,
}

impl Default for SearchSettings {
    fn default() -> Self {
        Self {
            shortlist: SHORTLIST,
            contour_shortlist: CONTOUR_SHORTLIST,
            contour_pool: CONTOUR_POOL,
            melody_pool: MELODY_POOL,
            melody_vote_shortlist: MELODY_VOTE_SHORTLIST,
            melody_vote_pool: MELODY_VOTE_POOL,
            melody_vote_probe: MELODY_VOTE_PROBE,
            // Off since the second voice: followed frame by frame, the line lets every
            // ensemble's melody fit hums of inner voices, outscoring the second voice's own
            // match; and on for some songs only it favours those (docs/MEASURED.md).
            second_line: false,
            second_line_cost: super::DEFAULT_SECOND_LINE_COST,
            second_line_switch_cost: 0.0,
            warp_step_cost: WARP_STEP_COST,
            dtw_share: DTW_SHARE,
            second_voice: true,
            second_voice_penalty: super::DEFAULT_SECOND_VOICE_PENALTY,
            second_voice_pool: SECOND_VOICE_POOL,
            vote: VOTE_WEIGHT,
            dense: DENSE_WEIGHT,
            diagonal: DIAGONAL_WEIGHT,
            melody_vote: MELODY_VOTE_WEIGHT,
            hub: HUB_WEIGHT,
            by_texture: TextureWeights::default(),
            ann: AnnSettings::default(),
            query: QueryWindows::default(),
            dump_candidates: None,
        }
    }
}

impl SearchSettings {
    /// The defaults with the tuning environment variables applied (unparsable values are
    /// ignored).
    pub fn from_env() -> Self {
        Self::default().with_overrides(|name| std::env::var(name).ok())
    }

    /// Defaults, then the settings file (`file`, which must then exist, or else `default_file`
    /// when there is one), then the environment. A file that cannot be read or parsed, or has
    /// an unknown key, is an error that names it.
    pub fn load(file: Option<&Path>, default_file: Option<&Path>) -> Result<Self, LearnedError> {
        let chosen = file.or(default_file.filter(|p| p.is_file()));
        let base = match chosen {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        Ok(base.with_overrides(|name| std::env::var(name).ok()))
    }

    /// The settings in a JSON file (keys left out keep their defaults).
    pub fn from_file(path: &Path) -> Result<Self, LearnedError> {
        let fail = |why: String| LearnedError::Settings {
            path: path.to_path_buf(),
            why,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let settings: Self = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
        settings.validated().map_err(fail)
    }

    /// Rejects values no search can use (weights must be finite and not negative; at least one
    /// stretch, each between 0.25 and 4).
    fn validated(self) -> Result<Self, String> {
        if self.query.stretches.is_empty()
            || self
                .query
                .stretches
                .iter()
                .any(|s| !(0.25..=4.0).contains(s))
        {
            return Err(format!(
                "query.stretches must be one or more factors between 0.25 and 4, not {:?}",
                self.query.stretches
            ));
        }
        for (name, w) in [
            ("vote", self.vote),
            ("dense", self.dense),
            ("diagonal", self.diagonal),
            ("melody_vote", self.melody_vote),
            ("hub", self.hub),
            ("by_texture.dense", self.by_texture.dense),
            ("by_texture.diagonal", self.by_texture.diagonal),
            ("by_texture.melody_vote", self.by_texture.melody_vote),
        ] {
            if !w.is_finite() || w < 0.0 {
                return Err(format!("{name} must be a number ≥ 0, not {w}"));
            }
        }
        let (low, high) = (self.by_texture.low, self.by_texture.high);
        if !(low.is_finite() && high.is_finite() && low <= high) {
            return Err(format!(
                "by_texture.low and by_texture.high must be numbers with low ≤ high, not {low} and {high}"
            ));
        }
        if !(0.0..=1.0).contains(&self.dtw_share) {
            return Err(format!(
                "dtw_share must be a number from 0 to 1, not {}",
                self.dtw_share
            ));
        }
        Ok(self)
    }

    /// The settings with the named overrides `lookup` knows.
    pub fn with_overrides(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        let number = |name: &str| lookup(name).and_then(|v| v.trim().parse::<f32>().ok());
        for (name, field) in [
            ("EARWORM_SHORTLIST", &mut self.shortlist),
            ("EARWORM_CONTOUR_SHORTLIST", &mut self.contour_shortlist),
            ("EARWORM_CONTOUR_POOL", &mut self.contour_pool),
            ("EARWORM_MELODY_POOL", &mut self.melody_pool),
            (
                "EARWORM_MELODY_VOTE_SHORTLIST",
                &mut self.melody_vote_shortlist,
            ),
            ("EARWORM_MELODY_VOTE_POOL", &mut self.melody_vote_pool),
            ("EARWORM_MELODY_VOTE_PROBE", &mut self.melody_vote_probe),
            ("EARWORM_SECOND_VOICE_POOL", &mut self.second_voice_pool),
            ("EARWORM_ANN_PROBE", &mut self.ann.probe),
            ("EARWORM_QUERY_HOP", &mut self.query.hop),
            ("EARWORM_QUERY_MAX_WINDOWS", &mut self.query.max_windows),
        ] {
            if let Some(v) = number(name).filter(|v| v.is_finite()) {
                *field = v.max(0.0) as usize;
            }
        }
        self.query.hop = self.query.hop.max(1);
        let stretches: Option<Vec<f32>> = lookup("EARWORM_QUERY_STRETCHES").and_then(|v| {
            v.split(',')
                .map(|x| {
                    x.trim()
                        .parse::<f32>()
                        .ok()
                        .filter(|s| (0.25..=4.0).contains(s))
                })
                .collect()
        });
        if let Some(s) = stretches.filter(|s| !s.is_empty()) {
            self.query.stretches = s;
        }
        for (name, field) in [
            ("EARWORM_VOTE_WEIGHT", &mut self.vote),
            ("EARWORM_DENSE_WEIGHT", &mut self.dense),
            ("EARWORM_DIAGONAL_WEIGHT", &mut self.diagonal),
            ("EARWORM_MELODY_VOTE_WEIGHT", &mut self.melody_vote),
            ("EARWORM_HUB_WEIGHT", &mut self.hub),
            ("EARWORM_ENSEMBLE_DENSE_WEIGHT", &mut self.by_texture.dense),
            (
                "EARWORM_ENSEMBLE_DIAGONAL_WEIGHT",
                &mut self.by_texture.diagonal,
            ),
            (
                "EARWORM_ENSEMBLE_MELODY_VOTE_WEIGHT",
                &mut self.by_texture.melody_vote,
            ),
            ("EARWORM_SECOND_LINE_COST", &mut self.second_line_cost),
            (
                "EARWORM_SECOND_LINE_SWITCH_COST",
                &mut self.second_line_switch_cost,
            ),
            ("EARWORM_WARP_STEP_COST", &mut self.warp_step_cost),
            ("EARWORM_DTW_SHARE", &mut self.dtw_share),
            (
                "EARWORM_SECOND_VOICE_PENALTY",
                &mut self.second_voice_penalty,
            ),
        ] {
            if let Some(v) = number(name).filter(|v| v.is_finite() && *v >= 0.0) {
                *field = v;
            }
        }
        if let Some(v) = number("EARWORM_SECOND_LINE") {
            self.second_line = v != 0.0;
        }
        if let Some(v) = number("EARWORM_SECOND_VOICE") {
            self.second_voice = v != 0.0;
        }
        if let Some(v) = number("EARWORM_BY_TEXTURE") {
            self.by_texture.enabled = v != 0.0;
        }
        // A pair, so that low ≤ high holds whichever is set (e.g. "0.35,0.7").
        let pair: Option<Vec<f32>> = lookup("EARWORM_ENSEMBLE_AGREEMENT").and_then(|v| {
            v.split(',')
                .map(|x| x.trim().parse::<f32>().ok().filter(|x| x.is_finite()))
                .collect()
        });
        if let Some([low, high]) = pair.as_deref() {
            if low <= high {
                (self.by_texture.low, self.by_texture.high) = (*low, *high);
            }
        }
        if let Some(path) = lookup("EARWORM_DUMP_CANDIDATES").filter(|p| !p.is_empty()) {
            self.dump_candidates = Some(path.into());
        }
        self
    }

    /// A weighted mean, so a perfect match on every measure still scores 1. The embedding
    /// weights follow the song's mix–melody agreement ([`TextureWeights`]).
    fn fuse(
        &self,
        alignment: f32,
        vote: f32,
        melody_vote: f32,
        embedded: &EmbeddingScores,
        agreement: Option<f32>,
    ) -> f32 {
        let plain = self.by_texture.plain_share(agreement);
        let blend = |plain_weight: f32, ensemble_weight: f32| {
            plain * plain_weight + (1.0 - plain) * ensemble_weight
        };
        let t = &self.by_texture;
        let (dense, diagonal, melody) = (
            blend(self.dense, t.dense),
            blend(self.diagonal, t.diagonal),
            blend(self.melody_vote, t.melody_vote),
        );
        let total = alignment
            + self.vote * vote
            + melody * melody_vote
            + dense * embedded.dense
            + diagonal * embedded.diagonal;
        total / (1.0 + self.vote + melody + dense + diagonal)
    }
}

/// The final score's embedding weights for songs whose mix does not carry the tune plainly: a
/// four-part piece, a choir, a tune in an inner voice. There the hum's windows match other
/// songs' mixes as well as the song's own (the mix sounds like its harmony, not its tune), and
/// the melody vote (the hum against the song's stored tune, embedded alone) is the better
/// evidence. A song whose [`mix_melody_agreement`] is `high` or more takes the plain weights
/// ([`SearchSettings::dense`] and the rest), one at `low` or less these, and one between a
/// linear blend; a song without melody segments the plain ones.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TextureWeights {
    /// `EARWORM_BY_TEXTURE` (0 turns it off: the plain weights for every song).
    pub enabled: bool,
    /// `EARWORM_ENSEMBLE_AGREEMENT` ("low,high").
    pub low: f32,
    pub high: f32,
    /// `EARWORM_ENSEMBLE_DENSE_WEIGHT`, `EARWORM_ENSEMBLE_DIAGONAL_WEIGHT`,
    /// `EARWORM_ENSEMBLE_MELODY_VOTE_WEIGHT`.
    pub dense: f32,
    pub diagonal: f32,
    pub melody_vote: f32,
}

impl Default for TextureWeights {
    fn default() -> Self {
        Self {
            enabled: true,
            low: ENSEMBLE_AGREEMENT.0,
            high: ENSEMBLE_AGREEMENT.1,
            dense: 0.0,
            diagonal: 0.0,
            melody_vote: ENSEMBLE_MELODY_VOTE_WEIGHT,
        }
    }
}

impl TextureWeights {
    /// How much of the plain weights a song with this agreement takes (1: all), the rest
    /// from these.
    fn plain_share(&self, agreement: Option<f32>) -> f32 {
        match agreement {
            Some(a) if self.enabled => {
                if self.high > self.low {
                    ((a - self.low) / (self.high - self.low)).clamp(0.0, 1.0)
                } else if a >= self.high {
                    1.0
                } else {
                    0.0
                }
            }
            _ => 1.0,
        }
    }
}

/// Appends one JSON line per query: each candidate as [song id, vote, alignment score or null,
/// dense, diagonal, vote rank (null for songs only the contour channel found), contour stage-1
/// rank or null, melody vote, hub lead, whether the match followed the second voice, the song's
/// mix–melody agreement or null], for tuning the re-ranking offline (tools/tune_rerank.py).
fn dump_candidates(
    path: &std::path::Path,
    candidates: &[(i64, f32)],
    from_vote: usize,
    aligned: &HashMap<i64, (usize, Match)>,
    scores: &[EmbeddingScores],
    melody_vote_and_hub_lead: impl Fn(i64) -> (f32, f32),
    agreements: &[Option<f32>],
) {
    use std::io::Write;
    let rows: Vec<serde_json::Value> = candidates
        .iter()
        .zip(scores)
        .zip(agreements)
        .enumerate()
        .map(|(vote_rank, ((&(song, v), e), agreement))| {
            let (contour_rank, score, second_voice) = match aligned.get(&song) {
                Some((r, m)) => (
                    Some(*r),
                    Some(m.score),
                    m.line == super::MatchedLine::SecondVoice,
                ),
                None => (None, None, false),
            };
            let vote_rank = (vote_rank < from_vote).then_some(vote_rank);
            let (melody_vote, hub_lead) = melody_vote_and_hub_lead(song);
            serde_json::json!([
                song,
                v,
                score,
                e.dense,
                e.diagonal,
                vote_rank,
                contour_rank,
                melody_vote,
                hub_lead,
                second_voice,
                agreement
            ])
        })
        .collect();
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{}", serde_json::Value::Array(rows));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::add_test_song;
    use crate::library::Catalog;

    #[test]
    fn search_settings_take_overrides_and_ignore_nonsense() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let d = SearchSettings::default();
        assert_eq!(d.with_overrides(env(&[])), SearchSettings::default());
        let s = SearchSettings::default().with_overrides(env(&[
            ("EARWORM_SHORTLIST", "100"),
            ("EARWORM_CONTOUR_SHORTLIST", "0"),
            ("EARWORM_DENSE_WEIGHT", " 0.5 "),
            ("EARWORM_DIAGONAL_WEIGHT", "-1"),
            ("EARWORM_VOTE_WEIGHT", "lots"),
            ("EARWORM_DUMP_CANDIDATES", "/tmp/c.jsonl"),
            ("EARWORM_QUERY_STRETCHES", "0.9, 1.1"),
            ("EARWORM_QUERY_HOP", "0"),
            ("EARWORM_QUERY_MAX_WINDOWS", "12"),
            ("EARWORM_WARP_STEP_COST", "0.3"),
            ("EARWORM_DTW_SHARE", "0.8"),
        ]));
        assert_eq!(s.query.stretches, vec![0.9, 1.1]);
        assert_eq!(s.query.max_windows, 12);
        assert_eq!(s.query.hop, 1, "a hop of 0 becomes 1");
        let bad =
            SearchSettings::default().with_overrides(env(&[("EARWORM_QUERY_STRETCHES", "1,fast")]));
        assert_eq!(
            bad.query,
            QueryWindows::default(),
            "a list with nonsense is ignored"
        );
        assert_eq!(s.shortlist, 100);
        assert_eq!(s.contour_shortlist, 0);
        assert_eq!(s.dense, 0.5);
        assert_eq!(s.diagonal, DIAGONAL_WEIGHT, "negative weights are ignored");
        assert_eq!(s.vote, VOTE_WEIGHT, "unparsable values are ignored");
        assert_eq!(s.warp_step_cost, 0.3);
        assert_eq!(s.dtw_share, 0.8);
        let t = SearchSettings::default().with_overrides(env(&[
            ("EARWORM_BY_TEXTURE", "0"),
            ("EARWORM_ENSEMBLE_AGREEMENT", "0.2, 0.9"),
            ("EARWORM_ENSEMBLE_MELODY_VOTE_WEIGHT", "0.3"),
        ]));
        assert!(!t.by_texture.enabled);
        assert_eq!((t.by_texture.low, t.by_texture.high), (0.2, 0.9));
        assert_eq!(t.by_texture.melody_vote, 0.3);
        let reversed = SearchSettings::default()
            .with_overrides(env(&[("EARWORM_ENSEMBLE_AGREEMENT", "0.9,0.2")]));
        assert_eq!(
            reversed.by_texture,
            TextureWeights::default(),
            "low > high is ignored"
        );
        assert_eq!(
            s.dump_candidates.as_deref(),
            Some(std::path::Path::new("/tmp/c.jsonl"))
        );
    }

    #[test]
    fn long_hums_get_at_most_max_windows_per_stretch_still_covering_them() {
        let params = crate::model::features::FeatureParams::default();
        let w = params.window_frames;
        let q = QueryWindows::default();
        // A short hum keeps the hop; a long one spreads its windows over all of it.
        assert_eq!(q.hop_for(w + 5 * q.hop, w), q.hop);
        for frames in [w / 2, w, w + 1, 300, 500, 1000, 5000] {
            let hop = q.hop_for(frames, w);
            let starts = crate::model::features::window_starts(&params, frames, hop);
            assert!(starts.len() <= q.max_windows, "{frames} frames: {starts:?}");
            assert_eq!(
                starts.last().copied(),
                Some(frames.saturating_sub(w)),
                "the last window reaches the end"
            );
        }
        let unlimited = QueryWindows {
            max_windows: 0,
            ..QueryWindows::default()
        };
        assert_eq!(unlimited.hop_for(5000, w), unlimited.hop);
    }

    #[test]
    fn settings_file_sets_what_it_names_and_rejects_unknown_keys_and_bad_weights() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("search.json");
        std::fs::write(&file, r#"{"shortlist": 80, "ann": {"probe": 40}}"#).unwrap();
        let s = SearchSettings::from_file(&file).unwrap();
        assert_eq!((s.shortlist, s.ann.probe), (80, 40));
        assert_eq!(
            s.contour_pool, CONTOUR_POOL,
            "keys left out keep their defaults"
        );
        std::fs::write(&file, r#"{"shortlst": 80}"#).unwrap();
        let err = SearchSettings::from_file(&file).unwrap_err().to_string();
        assert!(
            err.contains("search.json") && err.contains("shortlst"),
            "{err}"
        );
        std::fs::write(&file, r#"{"dense": -2}"#).unwrap();
        assert!(SearchSettings::from_file(&file).is_err());
        std::fs::write(&file, r#"{"dtw_share": 1.5}"#).unwrap();
        let err = SearchSettings::from_file(&file).unwrap_err().to_string();
        assert!(err.contains("dtw_share"), "{err}");
        std::fs::write(&file, r#"{"by_texture": {"low": 0.8, "high": 0.2}}"#).unwrap();
        let err = SearchSettings::from_file(&file).unwrap_err().to_string();
        assert!(err.contains("by_texture.low"), "{err}");
        std::fs::write(&file, r#"{"by_texture": {"melody_vote": 0.2}}"#).unwrap();
        let s = SearchSettings::from_file(&file).unwrap();
        assert_eq!(s.by_texture.melody_vote, 0.2);
        assert_eq!(s.by_texture.low, ENSEMBLE_AGREEMENT.0);
        let missing = dir.path().join("none.json");
        assert!(SearchSettings::load(Some(&missing), None).is_err());
        // A default file that does not exist is no error.
        assert!(SearchSettings::load(None, Some(&missing)).is_ok());
    }

    #[test]
    fn an_empty_library_opens_and_reports_empty() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(dir.path()).unwrap();
        let index = SegmentIndex::open(dir.path(), &catalog, "m@0").unwrap();
        assert!(index.is_empty());
        let query = QueryEmbeddings {
            per_stretch: vec![vec![vec![0.1; 8]]],
            hops: vec![QUERY_HOP],
        };
        assert_eq!(
            embedding_scores(&index, &query, 1),
            EmbeddingScores::default()
        );
    }

    /// A unit vector pointing along a mix of axes `a` and `b`.
    fn unit(dim: usize, a: usize, b: usize, mix: f32) -> Vec<f32> {
        let mut v = vec![0.0; dim];
        v[a] = (1.0 - mix * mix).sqrt();
        v[b] += mix;
        v
    }

    #[test]
    fn looped_duplicate_and_silent_songs_build_search_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::open(dir.path()).unwrap();
        let melody = Contour::new(25.0, vec![60.0; 10]);
        let dim = 16;
        // Song 1: one phrase looped (segments repeat exactly); song 2: a copy of song 1;
        // song 3: different, with silence in the middle; song 4: all silence.
        let phrase: Vec<Vec<f32>> = (0..4).map(|i| unit(dim, i, i + 4, 0.4)).collect();
        let looped: Vec<(f32, Vec<f32>)> =
            (0..12).map(|k| (k as f32, phrase[k % 4].clone())).collect();
        let other: Vec<(f32, Vec<f32>)> = (0..6)
            .map(|k| {
                let v = if k == 2 || k == 3 {
                    vec![0.0; dim]
                } else {
                    unit(dim, 8 + k, 15, 0.2)
                };
                (k as f32, v)
            })
            .collect();
        let silence: Vec<(f32, Vec<f32>)> = (0..5).map(|k| (k as f32, vec![0.0; dim])).collect();
        let songs: [(&str, &[(f32, Vec<f32>)]); 4] = [
            ("/m/loop.wav", &looped),
            ("/m/loop_copy.wav", &looped),
            ("/m/other.wav", &other),
            ("/m/silence.wav", &silence),
        ];
        for (path, segs) in songs {
            add_test_song(&mut catalog, path, &melody, 12.0, vec![("m@1", segs)]);
        }
        for reload in [false, true] {
            let index = SegmentIndex::open(dir.path(), &catalog, "m@1").unwrap();
            assert_eq!(index.report.built, !reload);
            assert_eq!(index.len(), 12 + 12 + 6 + 5);
            // Silence stays out of the search: 24 looped points + 4 others.
            assert_eq!(index.shape().0, 28);
            let found = &index.nearest_many(&[phrase[1].clone()], 6, &AnnSettings::default())[0];
            let exact: HashSet<(i64, u32)> = found
                .iter()
                .filter(|n| n.similarity > 0.99)
                .map(|n| (n.song, n.start_s as u32))
                .collect();
            // Every place the phrase's second second occurs, in both copies of the loop.
            let expected: HashSet<(i64, u32)> = [1, 2]
                .iter()
                .flat_map(|&song| [1u32, 5, 9].map(|s| (song, s)))
                .collect();
            assert_eq!(exact, expected, "reload {reload}");
            let query = QueryEmbeddings {
                per_stretch: vec![phrase.clone()],
                hops: vec![QUERY_HOP],
            };
            let scores = embedding_scores(&index, &query, 1);
            // (Windows here are a segment apart, not the hop: only `dense` is exact.)
            assert!(scores.dense > 0.99 && scores.diagonal > 0.0, "{scores:?}");
            assert_eq!(
                embedding_scores(&index, &query, 4),
                EmbeddingScores::default()
            );
        }
    }

    #[test]
    fn a_song_whose_mix_does_not_carry_its_tune_is_judged_on_its_melody_vote() {
        let settings = SearchSettings::default();
        let t = &settings.by_texture;
        assert_eq!(
            t.plain_share(None),
            1.0,
            "no melody segments: the plain weights"
        );
        assert_eq!(t.plain_share(Some(t.high + 0.1)), 1.0);
        assert_eq!(t.plain_share(Some(t.low - 0.1)), 0.0);
        assert!((t.plain_share(Some((t.low + t.high) / 2.0)) - 0.5).abs() < 1e-6);
        let off = TextureWeights {
            enabled: false,
            ..TextureWeights::default()
        };
        assert_eq!(off.plain_share(Some(0.0)), 1.0);
        // Two songs the alignment fits equally: one's mix sounds like the hum (diagonal), the
        // other's stored tune does (melody vote). A plain song is judged on its mix, an
        // ensemble on its tune.
        let mix_like = EmbeddingScores {
            dense: 0.9,
            diagonal: 0.9,
        };
        let tune_like = EmbeddingScores {
            dense: 0.3,
            diagonal: 0.3,
        };
        let score = |embedded: &EmbeddingScores, melody_vote: f32, agreement: f32| {
            settings.fuse(0.8, 0.0, melody_vote, embedded, Some(agreement))
        };
        assert!(score(&mix_like, 0.2, 0.9) > score(&tune_like, 0.9, 0.9));
        assert!(score(&mix_like, 0.2, 0.1) < score(&tune_like, 0.9, 0.1));
        // With every weight 0 the score is the alignment's.
        assert_eq!(score(&tune_like, 0.9, 0.1), (0.8 + 0.05 * 0.9) / 1.05);
    }

    #[test]
    fn a_mix_agrees_with_its_tune_where_it_sounds_like_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::open(dir.path()).unwrap();
        let dim = 16;
        let melody = Contour::new(25.0, vec![60.0; 10]);
        let seg = |t: f32, a: usize, mix: f32| (t, unit(dim, a, a + 1, mix));
        // Song 1: each mix segment sounds like the tune's at its time (the last is silent in
        // the mix and counts for nothing). Song 2: the tune's segments are the mix's, one step
        // late. Song 3: no melody segments.
        let mix_1 = vec![seg(0.0, 0, 0.2), seg(1.0, 4, 0.2), (2.0, vec![0.0; dim])];
        let tune_1 = vec![seg(0.0, 0, 0.4), seg(1.0, 4, 0.4), seg(2.0, 8, 0.4)];
        let mix_2 = vec![seg(0.0, 0, 0.2), seg(1.0, 4, 0.2), seg(2.0, 8, 0.2)];
        let tune_2 = vec![seg(0.0, 12, 0.2), seg(1.0, 0, 0.2), seg(2.0, 4, 0.2)];
        let songs: [(&str, &[(f32, Vec<f32>)], Option<&[(f32, Vec<f32>)]>); 3] = [
            ("/m/1.wav", &mix_1, Some(&tune_1)),
            ("/m/2.wav", &mix_2, Some(&tune_2)),
            ("/m/3.wav", &mix_2, None),
        ];
        for (path, mix, tune) in songs {
            let mut sets = vec![("m@1", mix)];
            sets.extend(tune.map(|t| ("m@1#melody", t)));
            add_test_song(&mut catalog, path, &melody, 3.0, sets);
        }
        let index = SegmentIndex::open(dir.path(), &catalog, "m@1").unwrap();
        let tunes = SegmentIndex::open_vectors_only(dir.path(), &catalog, "m@1#melody").unwrap();
        // cos of unit(a, a+1, 0.2) with unit(a, a+1, 0.4): 0.98·0.917 + 0.2·0.4 = 0.978.
        let plain = mix_melody_agreement(&index, &tunes, 1).unwrap();
        assert!((plain - 0.978).abs() < 0.01, "{plain}");
        let late = mix_melody_agreement(&index, &tunes, 2).unwrap();
        assert!(late.abs() < 0.01, "{late}");
        assert_eq!(mix_melody_agreement(&index, &tunes, 3), None);
    }

    #[test]
    fn the_melody_vote_brings_in_a_song_whose_audio_the_vote_misses() {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::open(dir.path()).unwrap();
        let dim = 16;
        let melody = Contour::new(25.0, vec![60.0; 10]);
        let hum_window = unit(dim, 0, 1, 0.3);
        let near = vec![(0.0f32, hum_window.clone())];
        let far = |axis: usize| vec![(0.0f32, unit(dim, axis, axis + 1, 0.1))];
        // Song 1: its mix sounds like the hum. Song 2: its mix does not, its melody does.
        // Song 3: neither.
        let (mix_2, mix_3, melody_3) = (far(6), far(9), far(12));
        let songs: [(&str, &[(f32, Vec<f32>)], &[(f32, Vec<f32>)]); 3] = [
            ("/m/1.wav", &near, &far(3)),
            ("/m/2.wav", &mix_2, &near),
            ("/m/3.wav", &mix_3, &melody_3),
        ];
        for (path, mix, tune) in songs {
            let sets = vec![("m@1", mix), ("m@1#melody", tune)];
            add_test_song(&mut catalog, path, &melody, 1.0, sets);
        }
        let index = SegmentIndex::open(dir.path(), &catalog, "m@1").unwrap();
        let melodies_index =
            SegmentIndex::open_vectors_only(dir.path(), &catalog, "m@1#melody").unwrap();
        assert_eq!(melodies_index.song_count(), 3);
        assert!(
            melodies_index.sketch(1).is_none(),
            "tunes stay in the main index"
        );
        let query = QueryEmbeddings {
            per_stretch: vec![vec![hum_window]],
            hops: vec![QUERY_HOP],
        };
        // One candidate from the audio vote and, with the melody index, one from the melody
        // vote; the melody vote weighs enough here to put its song first.
        let settings = SearchSettings {
            shortlist: 1,
            contour_shortlist: 0,
            melody_vote_shortlist: 1,
            melody_vote: 1.0,
            ..Default::default()
        };
        let melodies = |songs: &[i64]| catalog.melody_lines_of(songs);
        let hum = Contour::new(25.0, vec![f32::NAN; 10]);
        let first = |melody_index: Option<&SegmentIndex>, settings: &SearchSettings| -> Vec<i64> {
            let mut times = StageTimes::default();
            search(
                LibraryView {
                    index: &index,
                    melody_index,
                    hub: None,
                    melodies: &melodies,
                },
                &query,
                &hum,
                1,
                settings,
                &mut times,
            )
            .unwrap()
            .iter()
            .map(|m| m.song_id)
            .collect()
        };
        assert_eq!(first(None, &settings), vec![1]);
        assert_eq!(first(Some(&melodies_index), &settings), vec![2]);
        let off = SearchSettings {
            melody_vote_shortlist: 0,
            ..settings.clone()
        };
        assert_eq!(
            first(Some(&melodies_index), &off),
            vec![1],
            "a shortlist of 0 turns the melody vote off"
        );
    }

    #[test]
    fn songs_with_a_second_voice_join_the_pool_whatever_the_votes_say() {
        use crate::library::NewSong;
        use crate::search::tests::{contour, tune};
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::open(dir.path()).unwrap();
        let dim = 16;
        let hum_window = unit(dim, 0, 1, 0.3);
        let hummed = contour(&tune(1, 120));
        let hum = Contour::new(hummed.fps, hummed.midi[200..450].to_vec());
        // Songs 1-8 sound more like the hum the lower their number; song 8 sets a descant
        // over the hummed tune (its melody line), the tune being its second voice.
        for i in 1..=8u32 {
            let mix = vec![(0.0f32, unit(dim, 0, 2 + i as usize, 0.2 * i as f32 / 2.0))];
            let path = format!("/m/{i}.wav");
            let (melody, voice) = if i == 8 {
                (contour(&tune(99, 120)), Some(&hummed))
            } else {
                (contour(&tune(i + 1, 120)), None)
            };
            catalog
                .upsert_song(&NewSong {
                    path: Path::new(&path),
                    size: 1,
                    mtime_ns: 1,
                    hash: &path,
                    title: &path,
                    artist: "",
                    album: "",
                    duration_s: 60.0,
                    melody: &melody,
                    second_line: None,
                    second_voice: voice,
                    segments: vec![("m@1", &mix)],
                })
                .unwrap();
        }
        let index = SegmentIndex::open(dir.path(), &catalog, "m@1").unwrap();
        assert_eq!(index.songs_with_second_voice(), vec![8]);
        let query = QueryEmbeddings {
            per_stretch: vec![vec![hum_window]],
            hops: vec![QUERY_HOP],
        };
        let melodies = |songs: &[i64]| catalog.melody_lines_of(songs);
        let first = |settings: &SearchSettings| {
            let mut times = StageTimes::default();
            let found = search(
                LibraryView {
                    index: &index,
                    melody_index: None,
                    hub: None,
                    melodies: &melodies,
                },
                &query,
                &hum,
                1,
                settings,
                &mut times,
            );
            let best = &found.unwrap()[0];
            (best.song_id, best.line)
        };
        // A pool of the vote's best 3 songs, the vote's best 2 as candidates.
        let settings = SearchSettings {
            shortlist: 2,
            contour_shortlist: 2,
            contour_pool: 3,
            melody_pool: 0,
            ..Default::default()
        };
        assert_eq!(
            first(&settings),
            (8, crate::search::MatchedLine::SecondVoice)
        );
        let off = SearchSettings {
            second_voice_pool: 0,
            ..settings.clone()
        };
        assert_ne!(first(&off).0, 8, "without it the pool misses the song");
    }

    #[test]
    fn of_two_songs_that_fit_a_hum_equally_the_hub_loses() {
        use crate::search::tests::{contour, tune};
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::open(dir.path()).unwrap();
        let dim = 16;
        let sung = contour(&tune(1, 120));
        let hum = Contour::new(sung.fps, sung.midi[100..350].to_vec());
        let mix = vec![(0.0f32, unit(dim, 0, 1, 0.3))];
        // Songs 1 and 2 carry the same tune and sound the same; song 3 is another tune.
        for (i, t) in [(1, 1), (2, 1), (3, 7)] {
            add_test_song(
                &mut catalog,
                &format!("/h/{i}.wav"),
                &contour(&tune(t, 120)),
                60.0,
                vec![("m@1", &mix)],
            );
        }
        let index = SegmentIndex::open(dir.path(), &catalog, "m@1").unwrap();
        let query = QueryEmbeddings {
            per_stretch: vec![vec![unit(dim, 0, 1, 0.3)]],
            hops: vec![QUERY_HOP],
        };
        let melodies = |songs: &[i64]| catalog.melody_lines_of(songs);
        let ranked = |hub: &HubScores, weight: f32| {
            let settings = SearchSettings {
                hub: weight,
                ..Default::default()
            };
            search(
                LibraryView {
                    index: &index,
                    melody_index: None,
                    hub: Some(hub),
                    melodies: &melodies,
                },
                &query,
                &hum,
                3,
                &settings,
                &mut StageTimes::default(),
            )
            .unwrap()
            .iter()
            .map(|m| (m.song_id, m.score))
            .collect::<Vec<_>>()
        };
        let song_1_is_hub = HubScores::new(HashMap::from([(1, 0.9), (2, 0.5), (3, 0.7)]));
        let song_2_is_hub = HubScores::new(HashMap::from([(1, 0.5), (2, 0.9), (3, 0.7)]));
        let plain = ranked(&song_1_is_hub, 0.0);
        assert!((plain[0].1 - plain[1].1).abs() < 1e-6, "{plain:?}");
        assert_eq!(ranked(&song_1_is_hub, 0.25)[0].0, 2);
        assert_eq!(ranked(&song_2_is_hub, 0.25)[0].0, 1);
        // The lead is over the library's mean: the hub loses 0.25 × 0.2, the other gains as
        // much.
        let corrected = ranked(&song_1_is_hub, 0.25);
        assert!(
            (corrected[0].1 - (plain[0].1 + 0.05)).abs() < 1e-5,
            "{corrected:?}"
        );
    }
}
