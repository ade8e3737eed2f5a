//! The baseline search: match a hum's pitch contour against every song's melody contour,
//! invariant to key, tempo (0.7–1.4x) and small timing errors.
//!
//! Key invariance without searching offsets: each voiced frame becomes a unit vector at angle
//! 2π·midi/12 (pitch class on a circle). For a candidate alignment the best transposition is
//! the direction of Σ q·conj(s), and the match quality is its length divided by the number of
//! query frames — a mean cosine of pitch-class differences, 1 for a perfect match. Octave errors
//! (common in both hums and melody extraction) cost nothing.
//!
//! Stage 1 slides the query over each song at a grid of tempo factors at 12.5 fps. Stage 2
//! refines the best songs with subsequence DTW at 25 fps, which absorbs rubato and skipped
//! notes and yields the alignment path (the app's overlay) and the matched start and end.

pub mod confidence;
pub mod hub;
pub mod learned;

use std::collections::{HashMap, HashSet};

use crate::audio::SAMPLE_RATE;
use crate::dsp::PitchTracker;
use crate::melody::{contour_from_pitch, Contour, CONTOUR_FPS};

/// Tempo factors tried in stage 1 (hum tempo / song tempo), geometric from 0.7 to 1.43.
const TEMPO_STEPS: usize = 13;
const TEMPO_MIN: f32 = 0.7;
const TEMPO_MAX: f32 = 1.43;
/// Queries with fewer voiced frames (at 25 fps) than this carry too little melody to search.
const MIN_VOICED_FRAMES: usize = 25;
/// DTW local cost where the song has no melody, and where the hum is silent (neutral).
const UNVOICED_SONG_COST: f32 = 1.0;
const UNVOICED_QUERY_COST: f32 = 0.5;
/// Extra cost of a frame aligned on a song's second line ([`MelodySearcher`]).
/// Chosen on the tuning half of the stress set and the additive-synthesis test songs (0, 0.15,
/// 0.3, 0.5: docs/MEASURED.md).
pub const DEFAULT_SECOND_LINE_COST: f32 = 0.3;

/// What a match on a song's second voice scores less than one on its melody (see
/// [`MelodySearcher::with_second_voices`]).
pub const DEFAULT_SECOND_VOICE_PENALTY: f32 = 0.0;

/// Extra cost of each warping step of the alignment ([`MelodySearcher::with_warp_step_cost`]).
pub const DEFAULT_WARP_STEP_COST: f32 = 0.0;

/// Share of a match's score from the warped alignment (stage 2), the rest from stage 1's rigid
/// placement ([`MelodySearcher::with_dtw_share`]).
pub const DEFAULT_DTW_SHARE: f32 = 0.5;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SearchError {
    #[error("no melody found in the query: it needs at least {needed:.1} s of voiced sound (humming, singing or whistling), found {found:.1} s")]
    NotEnoughMelody { found: f32, needed: f32 },
    #[error("the library is empty: index some music first")]
    EmptyLibrary,
    #[error(
        "the recording is silent (peak {peak_dbfs:.0} dBFS): check the microphone or the file"
    )]
    Silent { peak_dbfs: f32 },
}

/// Recordings whose loudest sample is below this are silence, not a quiet hum (−60 dBFS).
pub const SILENT_QUERY_PEAK: f32 = 0.001;

/// How the hum lines up with the song: what the app draws and summarises.
#[derive(Debug, Clone, PartialEq)]
pub struct Alignment {
    /// Semitones from the song's melody up to the hum, folded into (-6, 6].
    pub key_shift: f32,
    /// Hum tempo relative to the song (1.1 = hummed 10% faster).
    pub tempo: f32,
    /// Matched frame pairs (query frame, song frame) at [`CONTOUR_FPS`].
    pub path: Vec<(u32, u32)>,
}

impl Default for Alignment {
    /// No alignment known: same key, same tempo, empty path.
    fn default() -> Self {
        Self {
            key_shift: 0.0,
            tempo: 1.0,
            path: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub song_id: i64,
    /// Higher is better; 1.0 is a perfect match.
    pub score: f32,
    pub start_s: f32,
    pub end_s: f32,
    pub alignment: Alignment,
    /// Which of the song's lines the hum was aligned with.
    pub line: MatchedLine,
}

/// The song line a match follows: its melody (with the second line where the alignment took
/// it), or its second voice ([`MelodySearcher::with_second_voices`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatchedLine {
    #[default]
    Melody,
    SecondVoice,
}

/// The pitch contour of a hum (mono samples at [`SAMPLE_RATE`]).
pub fn hum_contour(samples: &[f32]) -> Contour {
    let frames = PitchTracker::new(SAMPLE_RATE).track(samples);
    contour_from_pitch(&frames, samples.len() as f32 / SAMPLE_RATE as f32)
}

#[derive(Clone, Copy, Default)]
struct C {
    re: f32,
    im: f32,
}

impl C {
    fn from_midi(m: f32) -> C {
        if m.is_nan() {
            return C::default();
        }
        let a = m * (std::f32::consts::TAU / 12.0);
        C {
            re: a.cos(),
            im: a.sin(),
        }
    }
    /// self · conj(o)
    #[inline]
    fn mul_conj(self, o: C) -> C {
        C {
            re: self.re * o.re + self.im * o.im,
            im: self.im * o.re - self.re * o.im,
        }
    }
    fn norm(self) -> f32 {
        (self.re * self.re + self.im * self.im).sqrt()
    }
}

struct PreparedSong {
    id: i64,
    coarse: Vec<C>,
    /// The contour at [`CONTOUR_FPS`]; stage 2 turns only the region it aligns into pitch-class
    /// vectors (most songs of a pool never reach stage 2).
    fine_midi: Vec<f32>,
    /// A second pitch per frame at [`CONTOUR_FPS`] (NaN where none; empty when the song has no
    /// second line): where a song's melody is one of several voices, the alignment may follow
    /// either line frame by frame.
    fine_alt: Vec<f32>,
    /// Whether this entry is a song's second voice (a separate entry under the song's id), and
    /// what is taken off its scores: 0 for a song's melody.
    second_voice: bool,
    penalty: f32,
}

/// Song melodies prepared for searching; build once, query many times.
pub struct MelodySearcher {
    songs: Vec<PreparedSong>,
    /// Added to a frame's cost where the alignment follows the second line: the melody line
    /// is the better guess, so a song that fits the hum only through its second line ranks
    /// below one that fits it on its melody.
    second_line_cost: f32,
    /// Paid each time the alignment moves between the melody and the second line; 0 lets it
    /// pick the nearer line in every frame.
    second_line_switch_cost: f32,
    /// Added to the DTW's cost for each step off the diagonal ((1,2) or (2,1)).
    warp_step_cost: f32,
    /// Share of a match's score from the warped alignment, the rest from stage 1's rigid one.
    dtw_share: f32,
}

impl Coarse {
    /// No placement found yet: scores 0, so any match beats it.
    fn nothing() -> Self {
        Coarse {
            score: 0.0,
            start: 0,
            tempo: 1.0,
            rotation: C { re: 1.0, im: 0.0 },
        }
    }

    /// The query placed at `start` and `tempo`, whose summed pitch-class products are `acc`:
    /// their direction is the best transposition.
    fn placed(acc: C, score: f32, start: usize, tempo: f32) -> Self {
        let norm = acc.norm().max(1e-9);
        Coarse {
            score,
            start,
            tempo,
            rotation: C {
                re: acc.re / norm,
                im: acc.im / norm,
            },
        }
    }
}

struct Coarse {
    score: f32,
    start: usize,
    tempo: f32,
    rotation: C,
}

impl MelodySearcher {
    pub fn new(melodies: impl IntoIterator<Item = (i64, Contour)>) -> Self {
        Self::with_alternatives(melodies.into_iter().map(|(id, c)| (id, c, None)))
    }

    /// Like [`Self::new`], each song with an optional second line (see
    /// [`crate::model::tracker::alternative_contour`]): stage 1 places the query on the first
    /// line, stage 2 aligns it against whichever of the two is nearer in each frame.
    pub fn with_alternatives(
        melodies: impl IntoIterator<Item = (i64, Contour, Option<Contour>)>,
    ) -> Self {
        let melodies: Vec<(i64, Contour, Option<Contour>)> = melodies.into_iter().collect();
        // Prepared on all cores: the learned search prepares its pool for every query.
        let songs = parallel_map(&melodies, |(id, contour, alt)| {
            prepared_song(*id, contour, alt.as_ref(), None)
        });
        Self {
            songs,
            second_line_cost: DEFAULT_SECOND_LINE_COST,
            second_line_switch_cost: 0.0,
            warp_step_cost: DEFAULT_WARP_STEP_COST,
            dtw_share: DEFAULT_DTW_SHARE,
        }
    }

    /// Songs known only by their pitch-class sketches ([`Contour::pitch_class_sketch`]): enough
    /// for [`Self::scan`], not for aligning (stage 2 needs the contour itself).
    pub fn from_sketches<'a>(sketches: impl IntoIterator<Item = (i64, &'a [u8])>) -> Self {
        Self {
            songs: sketches
                .into_iter()
                .map(|(id, sketch)| sketched_song(id, sketch, None))
                .collect(),
            second_line_cost: DEFAULT_SECOND_LINE_COST,
            second_line_switch_cost: 0.0,
            warp_step_cost: DEFAULT_WARP_STEP_COST,
            dtw_share: DEFAULT_DTW_SHARE,
        }
    }

    /// The same searcher with songs' second voices known by their sketches too (see
    /// [`Self::with_second_voices`]): [`Self::scan`] then finds a tune under a descant.
    pub fn with_second_voice_sketches<'a>(
        mut self,
        sketches: impl IntoIterator<Item = (i64, &'a [u8])>,
        penalty: f32,
    ) -> Self {
        self.songs.extend(
            sketches
                .into_iter()
                .map(|(id, sketch)| sketched_song(id, sketch, Some(penalty.max(0.0)))),
        );
        self
    }

    /// The same searcher with each song's second voice (the second-voice tracker's line: the
    /// tune under a descant) as a melody of its own: aligned on its own and scoring
    /// `penalty` less, the song keeping the better of its matches.
    pub fn with_second_voices(
        mut self,
        voices: impl IntoIterator<Item = (i64, Contour)>,
        penalty: f32,
    ) -> Self {
        let voices: Vec<(i64, Contour)> = voices.into_iter().collect();
        self.songs.extend(parallel_map(&voices, |(id, contour)| {
            prepared_song(*id, contour, None, Some(penalty.max(0.0)))
        }));
        self
    }

    /// The same searcher with another cost for following the second line (see the field).
    pub fn with_second_line_cost(mut self, cost: f32) -> Self {
        self.second_line_cost = cost.max(0.0);
        self
    }

    /// The same searcher with a cost for each move between the melody and the second line (see
    /// the field).
    pub fn with_second_line_switch_cost(mut self, cost: f32) -> Self {
        self.second_line_switch_cost = if cost.is_finite() { cost.max(0.0) } else { 0.0 };
        self
    }

    /// The same searcher with another cost per warping step of the alignment (see the field).
    pub fn with_warp_step_cost(mut self, cost: f32) -> Self {
        self.warp_step_cost = if cost.is_finite() {
            cost.max(0.0)
        } else {
            DEFAULT_WARP_STEP_COST
        };
        self
    }

    /// The same searcher with another share of the warped alignment in a match's score (see
    /// the field; clamped to 0–1, a nonsense value keeps the default).
    pub fn with_dtw_share(mut self, share: f32) -> Self {
        self.dtw_share = if share.is_finite() {
            share.clamp(0.0, 1.0)
        } else {
            DEFAULT_DTW_SHARE
        };
        self
    }

    /// Songs searched (a song with a second voice counts once).
    pub fn len(&self) -> usize {
        self.songs.iter().filter(|s| !s.second_voice).count()
    }

    pub fn is_empty(&self) -> bool {
        self.songs.is_empty()
    }

    /// The contour channel's pass over its pool: every song by stage 1 at every other tempo
    /// (it only picks which songs join the candidates; they then get the full stage 1), song
    /// ids best first.
    pub fn scan(&self, query: &Contour) -> Result<Vec<i64>, SearchError> {
        if self.songs.is_empty() {
            return Err(SearchError::EmptyLibrary);
        }
        let query = PreparedQuery::new(query)?;
        let sparse_tempi: Vec<f32> = query.tempi.iter().step_by(2).copied().collect();
        let mut seen = HashSet::new();
        Ok(self
            .stage_one(&query, &sparse_tempi, |_| true)
            .iter()
            .map(|(i, _)| self.songs[*i].id)
            .filter(|id| seen.insert(*id))
            .collect())
    }

    /// Ranked matches for a hum's contour, best first, at most `top`.
    pub fn search(&self, query: &Contour, top: usize) -> Result<Vec<Match>, SearchError> {
        self.search_among(query, top, None)
    }

    /// Like [`Self::search`], restricted to the songs in `candidates` when given.
    pub fn search_among(
        &self,
        query: &Contour,
        top: usize,
        candidates: Option<&HashSet<i64>>,
    ) -> Result<Vec<Match>, SearchError> {
        if self.songs.is_empty() {
            return Err(SearchError::EmptyLibrary);
        }
        let query = PreparedQuery::new(query)?;
        let coarse = self.stage_one(&query, &query.tempi, |id| {
            candidates.is_none_or(|c| c.contains(&id))
        });
        let refine = (top * 2).max(20).min(coarse.len());
        let mut matches = self.stage_two(&query, &coarse[..refine]);
        matches.truncate(top);
        Ok(matches)
    }

    /// The learned search's alignment stage: every song in `candidates` aligned (the contour
    /// channel's extra songs come from [`Self::scan`] over its pool). Returns (stage-1 rank
    /// among the candidates, match), best match first.
    pub fn align_candidates(
        &self,
        query: &Contour,
        candidates: &HashSet<i64>,
    ) -> Result<Vec<(usize, Match)>, SearchError> {
        if self.songs.is_empty() {
            return Err(SearchError::EmptyLibrary);
        }
        let query = PreparedQuery::new(query)?;
        let chosen = self.stage_one(&query, &query.tempi, |id| candidates.contains(&id));
        // Ranks among songs: a song placed twice (melody and second voice) takes its better
        // place, and the songs after it are not pushed down by its second entry.
        let mut rank_of: HashMap<i64, usize> = HashMap::with_capacity(chosen.len());
        for (i, _) in &chosen {
            let next = rank_of.len();
            rank_of.entry(self.songs[*i].id).or_insert(next);
        }
        Ok(self
            .stage_two(&query, &chosen)
            .into_iter()
            .map(|m| (rank_of.get(&m.song_id).copied().unwrap_or(usize::MAX), m))
            .collect())
    }

    /// Stage 1 over the songs `include` accepts, split across threads: (song index, best
    /// placement), best first.
    fn stage_one(
        &self,
        query: &PreparedQuery,
        tempi: &[f32],
        include: impl Fn(i64) -> bool,
    ) -> Vec<(usize, Coarse)> {
        let pool: Vec<usize> = (0..self.songs.len())
            .filter(|&i| include(self.songs[i].id))
            .collect();
        if pool.is_empty() {
            return Vec::new();
        }
        let coarse_query = CoarseQuery::new(
            &query.coarse,
            query.coarse_len,
            tempi,
            pool.iter().map(|&i| self.songs[i].coarse.len()),
        );
        let mut coarse: Vec<(usize, Coarse)> =
            parallel_map(&pool, |&i| (i, coarse_query.best_in(&self.songs[i].coarse)));
        let ranked = |(i, c): &(usize, Coarse)| c.score - self.songs[*i].penalty;
        coarse.sort_by(|a, b| ranked(b).total_cmp(&ranked(a)));
        coarse
    }

    /// Stage 2: DTW refinement of the given songs at their stage-1 placements, best first.
    fn stage_two(&self, query: &PreparedQuery, coarse: &[(usize, Coarse)]) -> Vec<Match> {
        let mut matches: Vec<Match> = parallel_map(coarse, |(idx, c)| {
            let song = &self.songs[*idx];
            let mut m = refine_match(
                &query.fine,
                song,
                c,
                LineCosts {
                    second_line: self.second_line_cost,
                    switch: self.second_line_switch_cost,
                },
                self.warp_step_cost,
                self.dtw_share,
            );
            m.score -= song.penalty;
            m.line = if song.second_voice {
                MatchedLine::SecondVoice
            } else {
                MatchedLine::Melody
            };
            m
        });
        matches.sort_by(|a, b| b.score.total_cmp(&a.score));
        // A song with a second voice was aligned twice: it keeps its better match.
        let mut seen = HashSet::new();
        matches.retain(|m| seen.insert(m.song_id));
        matches
    }
}

/// A song's melody (with its second line, if any), or with `voice_penalty` its second voice,
/// ready for both stages.
fn prepared_song(
    id: i64,
    contour: &Contour,
    alt: Option<&Contour>,
    voice_penalty: Option<f32>,
) -> PreparedSong {
    PreparedSong {
        id,
        coarse: contour_fps_half(contour)
            .midi
            .iter()
            .map(|&m| C::from_midi(m))
            .collect(),
        fine_midi: resample_contour(contour, CONTOUR_FPS).midi,
        fine_alt: alt
            .map(|a| resample_contour(a, CONTOUR_FPS).midi)
            .unwrap_or_default(),
        second_voice: voice_penalty.is_some(),
        penalty: voice_penalty.unwrap_or(0.0),
    }
}

/// A song known only by its pitch-class sketch; with `voice_penalty`, its second voice's.
fn sketched_song(id: i64, sketch: &[u8], voice_penalty: Option<f32>) -> PreparedSong {
    use std::sync::OnceLock;
    static CIRCLE: OnceLock<Vec<C>> = OnceLock::new();
    let circle = CIRCLE.get_or_init(|| {
        (0..crate::melody::SKETCH_STEPS)
            .map(|k| C::from_midi(k as f32 * 12.0 / crate::melody::SKETCH_STEPS as f32))
            .collect()
    });
    PreparedSong {
        id,
        coarse: sketch
            .iter()
            .map(|&k| circle.get(k as usize).copied().unwrap_or_default())
            .collect(),
        fine_midi: Vec::new(),
        fine_alt: Vec::new(),
        second_voice: voice_penalty.is_some(),
        penalty: voice_penalty.unwrap_or(0.0),
    }
}

/// A hum's contour ready for both stages.
struct PreparedQuery {
    /// Voiced frames at the coarse rate: (frame, pitch-class vector).
    coarse: Vec<(usize, C)>,
    /// Length at the coarse rate, voiced or not.
    coarse_len: usize,
    tempi: Vec<f32>,
    /// Every frame at [`CONTOUR_FPS`]; None where unvoiced.
    fine: Vec<Option<C>>,
}

impl PreparedQuery {
    fn new(query: &Contour) -> Result<Self, SearchError> {
        let query = trim_unvoiced(&resample_contour(query, CONTOUR_FPS));
        let voiced = query.midi.iter().filter(|m| !m.is_nan()).count();
        if voiced < MIN_VOICED_FRAMES {
            return Err(SearchError::NotEnoughMelody {
                found: voiced as f32 / CONTOUR_FPS,
                needed: MIN_VOICED_FRAMES as f32 / CONTOUR_FPS,
            });
        }
        Ok(Self {
            coarse: contour_fps_half(&query)
                .midi
                .iter()
                .enumerate()
                .filter(|(_, m)| !m.is_nan())
                .map(|(i, &m)| (i, C::from_midi(m)))
                .collect(),
            coarse_len: query.len().div_ceil(2),
            tempi: (0..TEMPO_STEPS)
                .map(|k| {
                    TEMPO_MIN * (TEMPO_MAX / TEMPO_MIN).powf(k as f32 / (TEMPO_STEPS - 1) as f32)
                })
                .collect(),
            fine: query
                .midi
                .iter()
                .map(|&m| (!m.is_nan()).then(|| C::from_midi(m)))
                .collect(),
        })
    }
}

/// `f` over `items` on all cores, in order.
pub(crate) fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len())
        .max(1);
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("search worker panicked"))
            .collect()
    })
}

/// Contour at half the frame rate (median pooling of pairs).
fn contour_fps_half(c: &Contour) -> Contour {
    c.downsample(2)
}

/// Re-grids a contour to `fps` (nearest frame); identity when the rate already matches.
fn resample_contour(c: &Contour, fps: f32) -> Contour {
    if (c.fps - fps).abs() < 1e-3 {
        return c.clone();
    }
    let n = (c.len() as f32 * fps / c.fps).round() as usize;
    let midi = (0..n)
        .map(|i| c.midi[((i as f32 * c.fps / fps) as usize).min(c.len() - 1)])
        .collect();
    Contour::new(fps, midi)
}

fn trim_unvoiced(c: &Contour) -> Contour {
    let first = c.midi.iter().position(|m| !m.is_nan()).unwrap_or(0);
    let last = c
        .midi
        .iter()
        .rposition(|m| !m.is_nan())
        .map_or(0, |i| i + 1);
    Contour::new(c.fps, c.midi[first..last.max(first)].to_vec())
}

/// The query of stage 1, ready for correlating with songs by FFT: for each tempo, the query's
/// pitch-class vectors placed at their stretched offsets, transformed at every FFT length a
/// song of the pool needs.
///
/// Sliding the query over a song is a cross-correlation, so one FFT of the song and one inverse
/// FFT per tempo replace the direct sum over every (start, query frame) pair: ~10x less work,
/// which is what lets the learned search scan the whole library for its contour channel within
/// its latency budget.
struct CoarseQuery {
    /// Voiced query frames (the mean resultant divides by their number).
    voiced: usize,
    /// Query length in coarse frames, voiced or not.
    len: usize,
    tempi: Vec<f32>,
    /// FFT length → (forward plan, inverse plan, conjugated query spectrum per tempo).
    spectra: HashMap<usize, CoarsePlan>,
}

struct CoarsePlan {
    forward: std::sync::Arc<dyn rustfft::Fft<f32>>,
    inverse: std::sync::Arc<dyn rustfft::Fft<f32>>,
    query_conj: Vec<Vec<rustfft::num_complex::Complex32>>,
}

impl CoarseQuery {
    fn new(
        query: &[(usize, C)],
        len: usize,
        tempi: &[f32],
        song_lens: impl Iterator<Item = usize>,
    ) -> Self {
        use rustfft::num_complex::Complex32;
        let mut planner = rustfft::FftPlanner::<f32>::new();
        let mut spectra = HashMap::new();
        for song_len in song_lens {
            let n = Self::fft_len(song_len, len, tempi);
            if spectra.contains_key(&n) {
                continue;
            }
            let forward = planner.plan_fft_forward(n);
            let inverse = planner.plan_fft_inverse(n);
            let query_conj = tempi
                .iter()
                .map(|&tempo| {
                    let mut buf = vec![Complex32::default(); n];
                    for &(i, q) in query {
                        let off = (i as f32 * tempo).round() as usize;
                        buf[off].re += q.re;
                        buf[off].im += q.im;
                    }
                    forward.process(&mut buf);
                    buf.iter_mut().for_each(|z| *z = z.conj());
                    buf
                })
                .collect();
            spectra.insert(
                n,
                CoarsePlan {
                    forward,
                    inverse,
                    query_conj,
                },
            );
        }
        Self {
            voiced: query.len(),
            len,
            tempi: tempi.to_vec(),
            spectra,
        }
    }

    /// Long enough that no (start, offset) pair wraps around: starts run to the song's end plus
    /// slack, offsets to the query's longest stretched span.
    fn fft_len(song_len: usize, query_len: usize, tempi: &[f32]) -> usize {
        let max_tempo = tempi.iter().copied().fold(1.0f32, f32::max);
        let span = (query_len as f32 * max_tempo).round() as usize;
        fast_fft_len(song_len + 2 * span + 2)
    }

    /// Best (start, tempo) of the query in one song, by mean resultant of pitch-class
    /// differences; the same result as [`coarse_match_direct`] up to rounding.
    fn best_in(&self, song: &[C]) -> Coarse {
        use rustfft::num_complex::Complex32;
        let mut best = Coarse::nothing();
        let n_fft = Self::fft_len(song.len(), self.len, &self.tempi);
        let Some(plan) = self.spectra.get(&n_fft) else {
            return best;
        };
        let mut spectrum: Vec<Complex32> =
            song.iter().map(|c| Complex32::new(c.re, c.im)).collect();
        spectrum.resize(n_fft, Complex32::default());
        let mut scratch = vec![
            Complex32::default();
            plan.forward
                .get_inplace_scratch_len()
                .max(plan.inverse.get_inplace_scratch_len())
        ];
        plan.forward
            .process_with_scratch(&mut spectrum, &mut scratch);
        let mut corr = vec![Complex32::default(); n_fft];
        let scale = 1.0 / (n_fft as f32 * self.voiced.max(1) as f32);
        // Compare squared lengths (no square root per start); the best is scaled at the end.
        let (mut best_sq, mut best_at) = (0.0f32, None);
        for (&tempo, query_conj) in self.tempi.iter().zip(&plan.query_conj) {
            // r[k] = Σ_m conj(q[m]) s[m + k]; the direct sum is its conjugate.
            for ((r, &s), &q) in corr.iter_mut().zip(&spectrum).zip(query_conj) {
                *r = s * q;
            }
            plan.inverse.process_with_scratch(&mut corr, &mut scratch);
            let span = (self.len as f32 * tempo).round() as usize;
            let last_start = (song.len() + span / 5).saturating_sub(span);
            for (start, r) in corr.iter().enumerate().take(last_start + 1) {
                let sq = r.norm_sqr();
                if sq > best_sq {
                    best_sq = sq;
                    best_at = Some((start, tempo, *r));
                }
            }
        }
        if let Some((start, tempo, r)) = best_at {
            let acc = C {
                re: r.re,
                im: -r.im,
            };
            best = Coarse::placed(acc, acc.norm() * scale, start, tempo);
        }
        best
    }
}

/// The smallest length ≥ `n` of the form 2^a·{1, 3, 5, 9, 15}: transforms that fast come at
/// most a quarter longer than needed, where a power of two wastes up to half (a song of ~3 min
/// needs ~2,700 coarse frames: 3,072 instead of 4,096).
fn fast_fft_len(n: usize) -> usize {
    let n = n.max(1);
    [1, 3, 5, 9, 15]
        .iter()
        .map(|&odd| odd * n.div_ceil(odd).next_power_of_two())
        .min()
        .expect("five candidates")
}

/// Best (start, tempo) of the query in one song, by mean resultant of pitch-class differences,
/// summed directly: the reference [`CoarseQuery::best_in`] is tested against.
#[cfg(test)]
fn coarse_match_direct(
    query: &[(usize, C)],
    query_len: usize,
    song: &[C],
    tempi: &[f32],
) -> Coarse {
    let mut best = Coarse::nothing();
    let n = query.len() as f32;
    let mut offsets = Vec::with_capacity(query.len());
    for &tempo in tempi {
        offsets.clear();
        offsets.extend(
            query
                .iter()
                .map(|&(i, _)| (i as f32 * tempo).round() as usize),
        );
        let span = (query_len as f32 * tempo).round() as usize;
        // Allow the hum to run a little past either end of the song.
        let slack = span / 5;
        let last_start = (song.len() + slack).saturating_sub(span);
        for start in 0..=last_start {
            let mut acc = C::default();
            for (&(_, q), &off) in query.iter().zip(&offsets) {
                if let Some(&s) = song.get(start + off) {
                    let z = q.mul_conj(s);
                    acc.re += z.re;
                    acc.im += z.im;
                }
            }
            let score = acc.norm() / n;
            if score > best.score {
                best = Coarse::placed(acc, score, start, tempo);
            }
        }
    }
    best
}

/// Subsequence DTW of `q_len` query frames against `width` song frames (the path may start and
/// end anywhere in the song), steps (1,1), (1,2) and (2,1), the last two costing `step_cost`
/// more; `fill_costs(k, row)` writes query frame k's local cost against every song frame.
/// Returns the path as (query frame, song frame) from the first query frame to the last, and
/// its total cost (infinite when none fits).
///
/// A row depends only on the two before it, so each row is one pass the compiler vectorises:
/// only three rows of costs are kept, plus the steps for the trace back.
fn subsequence_dtw(
    q_len: usize,
    width: usize,
    step_cost: f32,
    mut fill_costs: impl FnMut(usize, &mut [f32]),
) -> (Vec<(usize, usize)>, f32) {
    let inf = f32::INFINITY;
    // Step into each cell: 0 = (1,1), 1 = (1,2), 2 = (2,1).
    let mut back = vec![0u8; q_len * width];
    let mut d_before = vec![inf; width]; // row k-2
    let mut d_prev = vec![0.0f32; width]; // row k-1
    let mut d_cur = vec![inf; width];
    let (mut cost_prev, mut cost_cur) = (vec![0.0f32; width], vec![0.0f32; width]);
    fill_costs(0, &mut cost_prev);
    d_prev.copy_from_slice(&cost_prev);
    for k in 1..q_len {
        fill_costs(k, &mut cost_cur);
        let steps = &mut back[k * width..(k + 1) * width];
        d_cur[0] = inf;
        if width > 1 {
            // Skipping a query frame pays for it, so the path cannot dodge bad frames for free.
            let skip = d_before[0] + cost_prev[1] + step_cost;
            let (best, step) = if skip < d_prev[0] {
                (skip, 2)
            } else {
                (d_prev[0], 0)
            };
            d_cur[1] = best + cost_cur[1];
            steps[1] = step;
        }
        if width > 2 {
            let n = width;
            let cells = d_cur[2..]
                .iter_mut()
                .zip(&mut steps[2..])
                .zip(&cost_cur[2..])
                .zip(d_prev[1..n - 1].iter().zip(&d_prev[..n - 2]))
                .zip(d_before[1..n - 1].iter().zip(&cost_prev[2..]));
            for ((((d, step), &cost), (&diagonal, &song_skip)), (&before, &skipped)) in cells {
                let query_skip = before + skipped + step_cost;
                let song_skip = song_skip + step_cost;
                let (best, s) = if song_skip < diagonal {
                    (song_skip, 1)
                } else {
                    (diagonal, 0)
                };
                let (best, s) = if query_skip < best {
                    (query_skip, 2)
                } else {
                    (best, s)
                };
                *d = best + cost;
                *step = s;
            }
        }
        std::mem::swap(&mut cost_prev, &mut cost_cur);
        std::mem::swap(&mut d_before, &mut d_prev);
        std::mem::swap(&mut d_prev, &mut d_cur);
    }
    // d_prev now holds the last row.
    let (end_j, total) = d_prev
        .iter()
        .copied()
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("width > 0");
    (trace_back(q_len, end_j, |k, j| back[k * width + j]), total)
}

/// The DTW path from its last cell (query frame `q_len - 1`, song frame `end_j`) back to the
/// first query frame, as (query frame, song frame) in order; `step_into(k, j)` is the step
/// that entered cell (k, j): 0 = (1,1), 1 = (1,2), 2 = (2,1).
fn trace_back(
    q_len: usize,
    end_j: usize,
    mut step_into: impl FnMut(usize, usize) -> u8,
) -> Vec<(usize, usize)> {
    let mut path = Vec::with_capacity(q_len);
    let (mut k, mut j) = (q_len - 1, end_j);
    loop {
        path.push((k, j));
        if k == 0 || j == 0 {
            break;
        }
        match step_into(k, j) {
            0 => {
                k -= 1;
                j -= 1;
            }
            1 => {
                k -= 1;
                j -= 2;
            }
            _ => {
                path.push((k - 1, j));
                k -= 2;
                j -= 1;
            }
        }
    }
    path.reverse();
    path
}

/// What following a song's second line costs: per frame on it, and per move onto or off it
/// (`switch` 0: each frame takes the nearer line).
#[derive(Debug, Clone, Copy)]
struct LineCosts {
    second_line: f32,
    switch: f32,
}

/// [`subsequence_dtw`] over two lines of song frames: the path is on the melody or on the
/// second line at each cell and pays `switch_cost` for each change; `fill_costs(k, melody,
/// second)` writes query frame k's costs against both. Returns the path and its total cost.
fn subsequence_dtw_two_lines(
    q_len: usize,
    width: usize,
    step_cost: f32,
    switch_cost: f32,
    mut fill_costs: impl FnMut(usize, &mut [f32], &mut [f32]),
) -> (Vec<(usize, usize)>, f32) {
    let inf = f32::INFINITY;
    // Per cell and line: the step into it (0 = (1,1), 1 = (1,2), 2 = (2,1)) times 2 plus the
    // line it came from.
    let mut back = vec![0u8; q_len * width * 2];
    let mut cost_prev = [vec![0.0f32; width], vec![0.0f32; width]];
    let mut cost_cur = [vec![0.0f32; width], vec![0.0f32; width]];
    {
        let [a, b] = &mut cost_prev;
        fill_costs(0, a, b);
    }
    let mut d_before = [vec![inf; width], vec![inf; width]];
    let mut d_prev = cost_prev.clone();
    let mut d_cur = [vec![inf; width], vec![inf; width]];
    // The cheaper way into line `to` from the two lines' costs `from`: (cost, line).
    let enter = |from: [f32; 2], to: usize| -> (f32, u8) {
        let stay = from[to];
        let moved = from[1 - to] + switch_cost;
        if moved < stay {
            (moved, (1 - to) as u8)
        } else {
            (stay, to as u8)
        }
    };
    for k in 1..q_len {
        {
            let [a, b] = &mut cost_cur;
            fill_costs(k, a, b);
        }
        for line in 0..2 {
            d_cur[line][0] = inf;
            for j in 1..width {
                let (diagonal, from_d) = enter([d_prev[0][j - 1], d_prev[1][j - 1]], line);
                let mut best = (diagonal, 0u8, from_d);
                if j >= 2 {
                    let (skip, from) = enter([d_prev[0][j - 2], d_prev[1][j - 2]], line);
                    if skip + step_cost < best.0 {
                        best = (skip + step_cost, 1, from);
                    }
                }
                // Skipping a query frame pays for it, on the line the path arrives on.
                let (before, from) = enter([d_before[0][j - 1], d_before[1][j - 1]], line);
                let query_skip = before + cost_prev[line][j] + step_cost;
                if query_skip < best.0 {
                    best = (query_skip, 2, from);
                }
                d_cur[line][j] = best.0 + cost_cur[line][j];
                back[(k * width + j) * 2 + line] = best.1 * 2 + best.2;
            }
        }
        std::mem::swap(&mut cost_prev, &mut cost_cur);
        std::mem::swap(&mut d_before, &mut d_prev);
        std::mem::swap(&mut d_prev, &mut d_cur);
    }
    let (mut line, end_j, total) = (0..2)
        .flat_map(|l| d_prev[l].iter().enumerate().map(move |(j, &d)| (l, j, d)))
        .min_by(|a, b| a.2.total_cmp(&b.2))
        .expect("width > 0");
    let path = trace_back(q_len, end_j, |k, j| {
        let b = back[(k * width + j) * 2 + line];
        line = (b % 2) as usize;
        b / 2
    });
    (path, total)
}

/// One query frame's alignment costs against a line of song frames (`re`, `im`: pitch
/// classes on the circle, (0, 0) where unvoiced): `q` is the query frame already turned by the
/// key shift, None where the hum is unvoiced.
fn melody_costs(q: Option<C>, re: &[f32], im: &[f32], row: &mut [f32]) {
    let Some(q) = q else {
        row.fill(UNVOICED_QUERY_COST);
        return;
    };
    for ((c, &re), &im) in row.iter_mut().zip(re).zip(im) {
        *c = if re == 0.0 && im == 0.0 {
            UNVOICED_SONG_COST
        } else {
            1.0 - (q.re * re + q.im * im)
        };
    }
}

/// Subsequence DTW of the query against the song around the coarse match.
fn refine_match(
    query: &[Option<C>],
    song: &PreparedSong,
    coarse: &Coarse,
    lines: LineCosts,
    warp_step_cost: f32,
    dtw_share: f32,
) -> Match {
    let q_len = query.len();
    let span = (q_len as f32 * coarse.tempo) as usize;
    let centre = coarse.start * 2;
    let lo = centre.saturating_sub(span / 3 + 5);
    let hi = (centre + span + span / 3 + 5).min(song.fine_midi.len());
    // The region as separate real and imaginary parts, so the cost rows vectorise.
    let (region_re, region_im): (Vec<f32>, Vec<f32>) = song.fine_midi[lo..hi.max(lo)]
        .iter()
        .map(|&m| {
            let s = C::from_midi(m);
            (s.re, s.im)
        })
        .unzip();
    let width = region_re.len();
    // The second line over the same region, (0, 0) where it has no pitch.
    let (alt_re, alt_im): (Vec<f32>, Vec<f32>) = if song.fine_alt.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        (lo..hi.max(lo))
            .map(|j| {
                let s = C::from_midi(song.fine_alt.get(j).copied().unwrap_or(f32::NAN));
                (s.re, s.im)
            })
            .unzip()
    };
    if width == 0 || q_len == 0 {
        return Match {
            song_id: song.id,
            score: 0.0,
            start_s: 0.0,
            end_s: 0.0,
            alignment: Alignment {
                key_shift: 0.0,
                tempo: 1.0,
                path: Vec::new(),
            },
            line: MatchedLine::Melody,
        };
    }
    let second_line_cost = lines.second_line;
    let align_on_two_lines = |rot: C| {
        let fill_costs = |k: usize, melody: &mut [f32], second: &mut [f32]| {
            let q = query[k].map(|q| q.mul_conj(rot));
            melody_costs(q, &region_re, &region_im, melody);
            match q {
                None => second.fill(UNVOICED_QUERY_COST + second_line_cost),
                Some(q) => {
                    // Where the second line has no pitch, a path on it hears the melody.
                    for (j, c) in second.iter_mut().enumerate() {
                        let (re, im) = (alt_re[j], alt_im[j]);
                        *c = second_line_cost
                            + if re == 0.0 && im == 0.0 {
                                melody[j]
                            } else {
                                1.0 - (q.re * re + q.im * im)
                            };
                    }
                }
            }
        };
        subsequence_dtw_two_lines(q_len, width, warp_step_cost, lines.switch, fill_costs)
    };
    let align = |rot: C| {
        if lines.switch > 0.0 && !alt_re.is_empty() {
            return align_on_two_lines(rot);
        }
        let fill_costs = |k: usize, row: &mut [f32]| {
            let q = query[k].map(|q| q.mul_conj(rot));
            melody_costs(q, &region_re, &region_im, row);
            if let Some(q) = q {
                for ((c, &re), &im) in row.iter_mut().zip(&alt_re).zip(&alt_im) {
                    if re != 0.0 || im != 0.0 {
                        *c = c.min(1.0 - (q.re * re + q.im * im) + second_line_cost);
                    }
                }
            }
        };
        subsequence_dtw(q_len, width, warp_step_cost, fill_costs)
    };
    let mut rot = coarse.rotation;
    let mut coarse_score = coarse.score;
    let (mut path, mut total) = align(rot);
    if !alt_re.is_empty() {
        // Stage 1 placed the query on the first line alone: where the melody strays to the
        // second line its key estimate is pulled off. Re-estimate the key from the frames the
        // path matched, each against the nearer line, and align again if that is better.
        let mut acc = C::default();
        let mut voiced = 0usize;
        for &(k, j) in &path {
            let Some(q) = query[k] else { continue };
            let q_rot = q.mul_conj(rot);
            let first = C {
                re: region_re[j],
                im: region_im[j],
            };
            let second = C {
                re: alt_re[j],
                im: alt_im[j],
            };
            let closeness = |s: C| q_rot.re * s.re + q_rot.im * s.im;
            let s = if second.norm() > 0.0
                && (first.norm() == 0.0 || closeness(second) > closeness(first))
            {
                second
            } else {
                first
            };
            voiced += 1;
            if s.norm() > 0.0 {
                let z = q.mul_conj(s);
                acc.re += z.re;
                acc.im += z.im;
            }
        }
        if voiced > 0 && acc.norm() > 0.0 {
            let better = C {
                re: acc.re / acc.norm(),
                im: acc.im / acc.norm(),
            };
            let (again, again_total) = align(better);
            if again_total < total {
                (path, total, rot) = (again, again_total, better);
                coarse_score = coarse_score.max(acc.norm() / voiced as f32);
            }
        }
    }
    let path: Vec<(u32, u32)> = path
        .into_iter()
        .map(|(k, j)| (k as u32, (j + lo) as u32))
        .collect();
    let mean_cost = if total.is_finite() {
        total / q_len as f32
    } else {
        2.0
    };
    let dtw_similarity = (1.0 - mean_cost / 2.0).clamp(0.0, 1.0);
    let (first, last) = (path[0].1 as f32, path[path.len() - 1].1 as f32);
    let tempo = (last - first).max(1.0) / (q_len as f32).max(1.0);
    let key_shift = {
        let semis = rot.im.atan2(rot.re) * 12.0 / std::f32::consts::TAU;
        if semis <= -6.0 {
            semis + 12.0
        } else {
            semis
        }
    };
    Match {
        song_id: song.id,
        score: dtw_share * dtw_similarity + (1.0 - dtw_share) * coarse_score,
        start_s: first / CONTOUR_FPS,
        end_s: (last + 1.0) / CONTOUR_FPS,
        alignment: Alignment {
            key_shift,
            tempo,
            path,
        },
        line: MatchedLine::Melody,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A contour from (MIDI, seconds) notes at 25 fps.
    pub(crate) fn contour(notes: &[(f32, f32)]) -> Contour {
        let mut midi = Vec::new();
        for &(m, d) in notes {
            midi.extend(std::iter::repeat_n(m, (d * CONTOUR_FPS) as usize));
        }
        Contour::new(CONTOUR_FPS, midi)
    }

    pub(crate) fn tune(seed: u32, len: usize) -> Vec<(f32, f32)> {
        let mut x = seed.wrapping_mul(2654435761);
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (
                    55.0 + (x % 19) as f32,
                    [0.25, 0.5, 0.5, 0.75, 1.0][(x >> 8) as usize % 5],
                )
            })
            .collect()
    }

    /// Subsequence DTW written plainly over the full cost matrix: what [`subsequence_dtw`]'s
    /// row-at-a-time form must reproduce exactly.
    fn dtw_reference(costs: &[Vec<f32>], step_cost: f32) -> (Vec<(usize, usize)>, f32) {
        let (q, w) = (costs.len(), costs[0].len());
        let mut d = vec![vec![f32::INFINITY; w]; q];
        let mut back = vec![vec![0u8; w]; q];
        d[0].clone_from(&costs[0]);
        for k in 1..q {
            for j in 1..w {
                let mut options = vec![(d[k - 1][j - 1], 0u8)];
                if j >= 2 {
                    options.push((d[k - 1][j - 2] + step_cost, 1));
                }
                if k >= 2 {
                    options.push((d[k - 2][j - 1] + costs[k - 1][j] + step_cost, 2));
                }
                // The first of equal options wins.
                let (best, step) =
                    options
                        .into_iter()
                        .fold((f32::INFINITY, 0), |b, o| if o.0 < b.0 { o } else { b });
                d[k][j] = best + costs[k][j];
                back[k][j] = step;
            }
        }
        let (mut j, total) = (0..w)
            .map(|j| (j, d[q - 1][j]))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        let mut k = q - 1;
        let mut path = vec![(k, j)];
        while k > 0 && j > 0 {
            match back[k][j] {
                0 => (k, j) = (k - 1, j - 1),
                1 => (k, j) = (k - 1, j - 2),
                _ => {
                    path.push((k - 1, j));
                    (k, j) = (k - 2, j - 1)
                }
            }
            path.push((k, j));
        }
        path.reverse();
        (path, total)
    }

    #[test]
    fn row_at_a_time_dtw_matches_the_full_matrix() {
        let mut seed = 7u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32
        };
        for (q, w) in [(1, 1), (1, 5), (2, 1), (3, 2), (5, 9), (40, 70), (90, 50)] {
            let costs: Vec<Vec<f32>> = (0..q)
                .map(|_| (0..w).map(|_| (2.0 * next()).min(1.5)).collect())
                .collect();
            for step_cost in [0.0, 0.1, 0.7] {
                let fast =
                    subsequence_dtw(q, w, step_cost, |k, row| row.copy_from_slice(&costs[k]));
                assert_eq!(
                    fast,
                    dtw_reference(&costs, step_cost),
                    "{q} x {w}, {step_cost}"
                );
            }
        }
    }

    #[test]
    fn fft_lengths_are_fast_sizes_just_above_the_need() {
        assert_eq!(fast_fft_len(0), 1);
        assert_eq!(fast_fft_len(2682), 3072);
        assert_eq!(fast_fft_len(2049), 2304);
        assert_eq!(fast_fft_len(4096), 4096);
        for n in 1..5000 {
            let m = fast_fft_len(n);
            assert!(m >= n && m * 4 <= n * 5 + 8, "{n} -> {m}");
        }
    }

    #[test]
    fn fft_stage_one_matches_the_direct_sum() {
        let tempi: Vec<f32> = (0..TEMPO_STEPS)
            .map(|k| TEMPO_MIN * (TEMPO_MAX / TEMPO_MIN).powf(k as f32 / (TEMPO_STEPS - 1) as f32))
            .collect();
        let coarse = |c: &Contour| -> Vec<C> {
            c.downsample(2)
                .midi
                .iter()
                .map(|&m| C::from_midi(m))
                .collect()
        };
        // A hum: an excerpt of song 3 up 5 semitones with a silent gap; songs of several lengths
        // (several FFT sizes), one shorter than the hum.
        let mut hum = contour(&tune(3, 30));
        hum.midi.drain(..40);
        hum.midi.iter_mut().for_each(|m| *m += 5.0);
        hum.midi[60..80].iter_mut().for_each(|m| *m = f32::NAN);
        let query: Vec<(usize, C)> = hum
            .downsample(2)
            .midi
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.is_nan())
            .map(|(i, &m)| (i, C::from_midi(m)))
            .collect();
        let query_len = hum.len().div_ceil(2);
        let songs: Vec<Vec<C>> = [(3, 120), (4, 60), (5, 300), (6, 8)]
            .iter()
            .map(|&(seed, len)| coarse(&contour(&tune(seed, len))))
            .collect();
        let fast = CoarseQuery::new(&query, query_len, &tempi, songs.iter().map(Vec::len));
        for song in &songs {
            let (a, b) = (
                fast.best_in(song),
                coarse_match_direct(&query, query_len, song, &tempi),
            );
            assert!(
                (a.score - b.score).abs() < 1e-4,
                "{} vs {}",
                a.score,
                b.score
            );
            assert_eq!((a.start, a.tempo), (b.start, b.tempo));
            assert!(
                (a.rotation.re - b.rotation.re).abs() < 1e-3
                    && (a.rotation.im - b.rotation.im).abs() < 1e-3
            );
        }
        assert!(
            fast.best_in(&songs[0]).score > 0.99,
            "the planted excerpt is found"
        );
    }

    #[test]
    fn alignment_stage_takes_the_candidates_and_the_library_best() {
        let lib = library();
        let excerpt: Vec<(f32, f32)> = tune(8, 120)[30..55].to_vec();
        let hum = contour(&excerpt);
        let shortlist: HashSet<i64> = [3, 11].into_iter().collect();
        // The contour channel's scan adds the library's best two by stage 1.
        let best = lib.scan(&hum).expect("enough melody");
        assert_eq!(best[0], 7, "first by stage 1 over the library");
        let mut candidates = shortlist.clone();
        candidates.extend(best.iter().take(2));
        let found = lib
            .align_candidates(&hum, &candidates)
            .expect("enough melody");
        let ids: HashSet<i64> = found.iter().map(|(_, m)| m.song_id).collect();
        assert!(
            ids.contains(&3) && ids.contains(&11),
            "every candidate is aligned: {ids:?}"
        );
        assert_eq!(found.len(), ids.len(), "no song twice");
        assert!(found.len() <= 4);
        // Song 7 holds the excerpt: first by stage 1, and first overall.
        assert_eq!(found[0].1.song_id, 7);
        assert_eq!(found[0].0, 0);
        let only: HashSet<i64> = [3].into_iter().collect();
        let alone = lib.align_candidates(&hum, &only).expect("enough melody");
        assert_eq!(alone.len(), 1);
        assert_eq!(alone[0].1.song_id, 3);
    }

    fn library() -> MelodySearcher {
        MelodySearcher::new((0..30).map(|i| (i as i64, contour(&tune(i + 1, 120)))))
    }

    #[test]
    fn finds_transposed_and_tempo_changed_excerpt_with_its_place() {
        // As the baseline searches, and as the learned search does (a cost on warping, more of
        // the warped alignment in the score).
        for (cost, share) in [
            (0.0, DEFAULT_DTW_SHARE),
            (learned::WARP_STEP_COST, learned::DTW_SHARE),
        ] {
            let searcher = library().with_warp_step_cost(cost).with_dtw_share(share);
            finds_excerpt_with(searcher, cost);
        }
    }

    fn finds_excerpt_with(searcher: MelodySearcher, cost: f32) {
        let song = tune(8, 120); // song id 7
        let excerpt = &song[40..60];
        // Whole frames per note, as `contour` lays them out.
        let frames_s = |notes: &[(f32, f32)]| {
            notes
                .iter()
                .map(|n| (n.1 * CONTOUR_FPS).floor())
                .sum::<f32>()
                / CONTOUR_FPS
        };
        let (start_s, len_s) = (frames_s(&song[..40]), frames_s(excerpt));
        for &(shift, tempo) in &[
            (0.0, 1.0),
            (5.0, 1.25),
            (-4.0, 0.8),
            (6.0, 1.3),
            (-6.0, 0.75),
        ] {
            let hum: Vec<(f32, f32)> = excerpt
                .iter()
                .map(|&(m, d)| (m + shift, d / tempo))
                .collect();
            let matches = searcher.search(&contour(&hum), 5).unwrap();
            assert_eq!(
                matches[0].song_id,
                7,
                "cost {cost} shift {shift} tempo {tempo}: {:?}",
                &matches[..2]
            );
            let m = &matches[0];
            assert!(
                (m.start_s - start_s).abs() < 0.3,
                "shift {shift} tempo {tempo}: start {} vs {start_s}",
                m.start_s
            );
            assert!(
                (m.end_s - (start_s + len_s)).abs() < 0.5,
                "end {} vs {}",
                m.end_s,
                start_s + len_s
            );
            let folded = shift - 12.0 * (shift / 12.0).round();
            let k = m.alignment.key_shift;
            assert!(
                ((k - folded).abs() < 0.3) || ((k - folded).abs() - 12.0).abs() < 0.3,
                "key {k} vs {shift}"
            );
            assert!(
                (m.alignment.tempo / tempo - 1.0).abs() < 0.1,
                "tempo {} vs {tempo}",
                m.alignment.tempo
            );
            assert!(m.score > matches[1].score);
        }
    }

    /// The same pitches with every other note half as long and the next one half again as
    /// long (the same length overall): a rhythm the alignment can only reach by warping.
    fn bent_rhythm(notes: &[(f32, f32)]) -> Vec<(f32, f32)> {
        notes
            .iter()
            .enumerate()
            .map(|(i, &(m, d))| (m, if i % 2 == 0 { d * 0.5 } else { d * 1.5 }))
            .collect()
    }

    #[test]
    fn warping_steps_cost_a_song_that_fits_only_with_another_rhythm() {
        // Song 0 holds the excerpt as hummed, song 1 its pitches in a bent rhythm.
        let excerpt = tune(3, 30);
        let rebent = bent_rhythm(&excerpt);
        let songs = || [(0, contour(&excerpt)), (1, contour(&rebent))];
        let score = |cost: f32, id: i64| {
            let searcher = MelodySearcher::new(songs()).with_warp_step_cost(cost);
            let matches = searcher.search(&contour(&excerpt), 2).unwrap();
            matches.iter().find(|m| m.song_id == id).unwrap().score
        };
        // The hum's own rhythm follows the diagonal: nothing to pay.
        assert!((score(0.15, 0) - score(0.0, 0)).abs() < 1e-6);
        assert!(score(0.15, 0) > 0.99);
        // The bent rhythm fits only by warping, and pays for each step.
        let (free, costed) = (score(0.0, 1), score(0.15, 1));
        assert!(free > 0.8, "without a cost the pitches alone fit: {free}");
        assert!(costed < free - 0.01, "{costed} vs {free}");
        let dearer = score(0.5, 1);
        assert!(dearer < costed - 0.01, "{dearer} vs {costed}");
        // A nonsense cost is no cost.
        assert!((score(f32::NAN, 1) - free).abs() < 1e-6);
    }

    #[test]
    fn the_dtw_share_moves_a_warped_match_between_its_rigid_and_warped_scores() {
        // A bent rhythm's rigid placement fits worse than its warped alignment, so its score
        // rises with the warped alignment's share, linearly.
        let excerpt = tune(3, 30);
        let rebent = bent_rhythm(&excerpt);
        let score = |share: f32| {
            let searcher = MelodySearcher::new([(1, contour(&rebent))]).with_dtw_share(share);
            searcher.search(&contour(&excerpt), 1).unwrap()[0].score
        };
        let (rigid, half, warped) = (score(0.0), score(0.5), score(1.0));
        assert!(warped > rigid + 0.05, "{warped} vs {rigid}");
        assert!((half - 0.5 * (rigid + warped)).abs() < 1e-5);
        assert!(
            (score(f32::NAN) - half).abs() < 1e-6,
            "nonsense keeps the default"
        );
        assert!((score(7.0) - warped).abs() < 1e-6, "clamped to 1");
    }

    #[test]
    fn two_line_dtw_equals_one_line_dtw_when_the_second_line_never_pays() {
        // Random costs on the melody; the second line costs far more everywhere, so the best
        // path stays on the melody and both alignments agree exactly.
        let (q_len, width) = (40, 70);
        let mut x = 12345u32;
        let mut costs = vec![0.0f32; q_len * width];
        for c in &mut costs {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *c = (x % 1000) as f32 / 500.0;
        }
        let row = |k: usize| &costs[k * width..(k + 1) * width];
        for step_cost in [0.0, 0.2] {
            let (one_path, one) =
                subsequence_dtw(q_len, width, step_cost, |k, r| r.copy_from_slice(row(k)));
            let (two_path, two) =
                subsequence_dtw_two_lines(q_len, width, step_cost, 0.5, |k, m, s| {
                    m.copy_from_slice(row(k));
                    s.fill(10.0);
                });
            assert!((one - two).abs() < 1e-4, "{one} vs {two}");
            assert_eq!(one_path, two_path);
        }
    }

    #[test]
    fn two_line_dtw_pays_each_move_between_the_lines() {
        // The query fits the melody for 20 frames, then the second line for 20: one switch.
        // Hopping frame by frame (odd frames on the second line) costs a switch each time.
        let (q_len, width) = (40, 40);
        let switch = 0.6;
        let run = |on_second: &dyn Fn(usize) -> bool| {
            subsequence_dtw_two_lines(q_len, width, 0.0, switch, |k, m, s| {
                for (j, (cm, cs)) in m.iter_mut().zip(s.iter_mut()).enumerate() {
                    let here = j == k;
                    (*cm, *cs) = match (here, on_second(k)) {
                        (true, false) => (0.0, 1.0),
                        (true, true) => (1.0, 0.0),
                        _ => (2.0, 2.0),
                    };
                }
            })
        };
        let (path, one_switch) = run(&|k| k >= 20);
        assert!((one_switch - switch).abs() < 1e-5, "{one_switch}");
        assert_eq!(path, (0..40).map(|k| (k, k)).collect::<Vec<_>>());
        // Staying on the melody through the odd frames (cost 1 each) beats 39 switches (23.4);
        // only the last frame is worth one switch: 19 + 0.6.
        let (_, hopping) = run(&|k| k % 2 == 1);
        assert!((hopping - 19.6).abs() < 1e-4, "{hopping}");
    }

    #[test]
    fn the_alignment_follows_a_second_line_in_runs_when_moves_cost() {
        // As below, with a cost per move between the lines: the melody strays for whole
        // seconds, so following the second line there still pays.
        let tune0 = contour(&tune(1, 120));
        let strayed = |k: usize| (k / 25) % 2 == 1;
        let line = |on_tune: &dyn Fn(usize) -> bool| {
            Contour::new(
                CONTOUR_FPS,
                tune0
                    .midi
                    .iter()
                    .enumerate()
                    .map(|(k, &m)| if on_tune(k) { m } else { m - 4.0 })
                    .collect(),
            )
        };
        let melody = line(&|k| !strayed(k));
        let second = line(&strayed);
        let hum = Contour::new(CONTOUR_FPS, tune0.midi[200..450].to_vec());
        let all: HashSet<i64> = (0..30).collect();
        let others = || (1..30).map(|i| (i as i64, contour(&tune(i + 1, 120)), None));
        let score_of_song_0 = |searcher: MelodySearcher| {
            let ranked = searcher.align_candidates(&hum, &all).unwrap();
            (
                ranked[0].1.song_id,
                ranked.iter().find(|(_, m)| m.song_id == 0).unwrap().1.score,
            )
        };
        let (_, before) = score_of_song_0(MelodySearcher::with_alternatives(
            std::iter::once((0, melody.clone(), None)).chain(others()),
        ));
        let (best, after) = score_of_song_0(
            MelodySearcher::with_alternatives(
                std::iter::once((0, melody, Some(second))).chain(others()),
            )
            .with_second_line_switch_cost(0.5),
        );
        assert_eq!(best, 0);
        assert!(after > before + 0.1, "score {before} -> {after}");
    }

    #[test]
    fn the_alignment_follows_a_second_line_where_the_melody_strays_to_another_voice() {
        // Song 0's stored melody sits on an inner voice (the tune a major third down) in every
        // other second; its second line holds the tune there (and the inner voice elsewhere).
        let tune0 = contour(&tune(1, 120));
        let strayed = |k: usize| (k / 25) % 2 == 1;
        let melody = Contour::new(
            CONTOUR_FPS,
            tune0
                .midi
                .iter()
                .enumerate()
                .map(|(k, &m)| if strayed(k) { m - 4.0 } else { m })
                .collect(),
        );
        let second = Contour::new(
            CONTOUR_FPS,
            tune0
                .midi
                .iter()
                .enumerate()
                .map(|(k, &m)| if strayed(k) { m } else { m - 4.0 })
                .collect(),
        );
        let hum = Contour::new(CONTOUR_FPS, tune0.midi[200..450].to_vec());
        let others = || (1..30).map(|i| (i as i64, contour(&tune(i + 1, 120)), None));
        let all: HashSet<i64> = (0..30).collect();
        let score_of_song_0 = |searcher: &MelodySearcher| {
            let ranked = searcher.align_candidates(&hum, &all).unwrap();
            let best = ranked[0].1.song_id;
            (
                best,
                ranked.iter().find(|(_, m)| m.song_id == 0).unwrap().1.score,
            )
        };
        let without = MelodySearcher::with_alternatives(
            std::iter::once((0, melody.clone(), None)).chain(others()),
        );
        let with = MelodySearcher::with_alternatives(
            std::iter::once((0, melody, Some(second))).chain(others()),
        );
        let (_, before) = score_of_song_0(&without);
        let (best, after) = score_of_song_0(&with);
        assert_eq!(best, 0);
        assert!(after > before + 0.1, "score {before} -> {after}");
    }

    #[test]
    fn a_tune_under_a_descant_is_found_on_the_second_voice() {
        // Song 0's melody line is a descant (its own tune); the hummed tune is its second voice.
        let hummed = contour(&tune(1, 120));
        let descant = contour(&tune(99, 120));
        let hum = Contour::new(CONTOUR_FPS, hummed.midi[200..450].to_vec());
        let others = || (1..30).map(|i| (i as i64, contour(&tune(i + 1, 120)), None));
        let all: HashSet<i64> = (0..30).collect();
        let without = MelodySearcher::with_alternatives(
            std::iter::once((0, descant.clone(), None)).chain(others()),
        );
        let with =
            MelodySearcher::with_alternatives(std::iter::once((0, descant, None)).chain(others()))
                .with_second_voices([(0, hummed.clone()), (5, contour(&tune(77, 120)))], 0.03);
        assert_eq!(with.len(), 30, "a second voice is not another song");
        let ranked = without.align_candidates(&hum, &all).unwrap();
        assert_ne!(ranked[0].1.song_id, 0);
        let ranked = with.align_candidates(&hum, &all).unwrap();
        let best = &ranked[0].1;
        assert_eq!((best.song_id, best.line), (0, MatchedLine::SecondVoice));
        // Each song once, and the penalty taken: a perfect fit scores under 1.
        let ids: HashSet<i64> = ranked.iter().map(|(_, m)| m.song_id).collect();
        assert_eq!(ids.len(), ranked.len());
        let mut ranks: Vec<usize> = ranked.iter().map(|(r, _)| *r).collect();
        ranks.sort_unstable();
        assert_eq!(
            ranks,
            (0..30).collect::<Vec<_>>(),
            "stage-1 ranks are ranks among songs"
        );
        assert!(best.score <= 0.97 + 1e-4, "{}", best.score);
        // Hummed on its melody line, a song is matched there, not on its second voice.
        let on_melody = Contour::new(CONTOUR_FPS, contour(&tune(6, 120)).midi[100..350].to_vec());
        let ranked = with.align_candidates(&on_melody, &all).unwrap();
        assert_eq!(
            (ranked[0].1.song_id, ranked[0].1.line),
            (5, MatchedLine::Melody)
        );
        assert_eq!(with.scan(&hum).unwrap().len(), 30);
        // Known by sketches alone, the pool's scan finds the song through its second voice.
        let sketches: Vec<(i64, Vec<u8>)> = std::iter::once((0, contour(&tune(99, 120))))
            .chain((1..30).map(|i| (i as i64, contour(&tune(i + 1, 120)))))
            .map(|(id, c)| (id, c.pitch_class_sketch()))
            .collect();
        let voice_sketch = hummed.pitch_class_sketch();
        let scanner =
            MelodySearcher::from_sketches(sketches.iter().map(|(id, s)| (*id, s.as_slice())));
        assert_ne!(scanner.scan(&hum).unwrap()[0], 0);
        let scanner =
            MelodySearcher::from_sketches(sketches.iter().map(|(id, s)| (*id, s.as_slice())))
                .with_second_voice_sketches([(0, voice_sketch.as_slice())], 0.0);
        let scanned = scanner.scan(&hum).unwrap();
        assert_eq!((scanned[0], scanned.len()), (0, 30));
    }

    #[test]
    fn octave_errors_and_gaps_do_not_break_a_match() {
        let searcher = library();
        let song = tune(13, 120); // id 12
        let mut hum: Vec<(f32, f32)> = song[10..35].to_vec();
        hum[3].0 += 12.0;
        hum[9].0 = f32::NAN;
        let m = searcher.search(&contour(&hum), 3).unwrap();
        assert_eq!(m[0].song_id, 12);
    }

    #[test]
    fn too_little_melody_and_empty_library_are_errors() {
        let searcher = library();
        let short = contour(&[(60.0, 0.4)]);
        assert!(matches!(
            searcher.search(&short, 5),
            Err(SearchError::NotEnoughMelody { .. })
        ));
        let empty = MelodySearcher::new(Vec::new());
        assert_eq!(
            empty.search(&contour(&tune(1, 20)), 5),
            Err(SearchError::EmptyLibrary)
        );
    }
}
