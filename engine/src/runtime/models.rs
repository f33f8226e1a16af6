//! The registry thread and the parity thread.
//!
//! A model is taken from a registry slot only after it has been checked: its `model.json`
//! names the engine's feature schema hash, its ONNX file reads as a tree ensemble over the
//! engine's features, its thresholds are probabilities with tau_hold at most tau_entry, and
//! ONNX Runtime and the native evaluator agree on rows at and next to every threshold. The
//! scorer is then built for the configured backend and warmed, all on the cold path, and handed
//! to the hot thread. A model that fails any check is refused with its reason, and the running
//! one is kept.
//!
//! The registry thread watches the `active` and `shadow` slots, scores every candidate with
//! the shadow model (shadow scoring: counted, never traded), and hands the shadow model to the
//! hot thread as the canary when a rollout is configured. The parity thread scores the live
//! vectors the active model scored with both backends and counts disagreements.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use ort::environment::Environment;
use rtrb::{Consumer, Producer};

use super::board::SharedBoard;
use super::rings::{ModelSwap, Route, Sample};
use crate::config::{RolloutMode, ScorerBackend, Shadow};
use crate::features::{FEATURE_COUNT, FEATURE_SCHEMA_HASH, FeatureVector};
use crate::model::ort_backend::{OrtError, OrtScorer};
use crate::model::parity::ParityChecker;
use crate::model::registry::{MODEL_FILE, ModelInfo, RegistryError, Slot, Thresholds, read_slot};
use crate::model::synthetic::boundary_rows;
use crate::model::{ModelError, NativeModel, Scorer, TreeEnsemble, read_onnx};

/// Rows on and next to the thresholds a model is parity-checked on before it is used.
pub const LOAD_PARITY_ROWS: usize = 2000;
/// Rows a new scorer is warmed with.
const WARM_UP_ROWS: usize = 1000;
/// How often the slots are looked at.
const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// Why a model was refused.
#[derive(Debug, thiserror::Error)]
pub enum ModelLoadError {
    /// The slot is empty.
    #[error(
        "the registry {registry} has no {slot} model: nothing trades until toolkit promote --to \
         {slot} puts one there, which it does for a model that passed toolkit release-check"
    )]
    EmptySlot {
        /// The registry.
        registry: PathBuf,
        /// The slot.
        slot: &'static str,
    },
    /// The registry could not be read.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The model file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The model file is not a usable tree ensemble.
    #[error("{path}: {source}")]
    Model {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: ModelError,
    },
    /// The model was trained on another feature schema.
    #[error(
        "model {id} was trained on feature schema {found}; the engine's is {FEATURE_SCHEMA_HASH}"
    )]
    Schema {
        /// Model id.
        id: String,
        /// Its schema hash.
        found: String,
    },
    /// The model does not take the engine's features.
    #[error("model {id} takes {found} features; the engine has {FEATURE_COUNT}")]
    Width {
        /// Model id.
        id: String,
        /// Its input width.
        found: usize,
    },
    /// Thresholds out of range or out of order.
    #[error(
        "model {id}: thresholds tau_entry {tau_entry} and tau_hold {tau_hold} must lie in [0, 1] with tau_hold <= tau_entry"
    )]
    Thresholds {
        /// Model id.
        id: String,
        /// Entry threshold.
        tau_entry: f64,
        /// Hold threshold.
        tau_hold: f64,
    },
    /// A split threshold is NaN or infinite (no trainer emits one: the file is corrupt).
    #[error("model {id}: tree {tree} has a split on a non-finite threshold")]
    NonFiniteSplit {
        /// Model id.
        id: String,
        /// The tree.
        tree: usize,
    },
    /// The two backends disagree.
    #[error(
        "model {id}: ONNX Runtime and the native evaluator disagree on {mismatches} of {rows} rows (max difference {max_difference:e})"
    )]
    Parity {
        /// Model id.
        id: String,
        /// Rows that differed.
        mismatches: u64,
        /// Rows compared.
        rows: u64,
        /// Largest difference.
        max_difference: f32,
    },
    /// ONNX Runtime refused the model or is not available.
    #[error("model {id}: {source}")]
    Ort {
        /// Model id.
        id: String,
        /// The cause.
        source: OrtError,
    },
}

/// A model read from the registry and checked.
pub struct CheckedModel {
    /// Its registry record.
    pub info: ModelInfo,
    /// Its ONNX bytes.
    pub bytes: Vec<u8>,
    /// The ensemble they hold.
    pub ensemble: TreeEnsemble,
}

impl CheckedModel {
    /// Model id.
    pub fn id(&self) -> &str {
        &self.info.id
    }

    /// The native evaluator of the model.
    pub fn native(&self) -> NativeModel {
        NativeModel::compile(&self.ensemble)
    }

    /// An ONNX Runtime session of the model.
    pub fn ort(&self, environment: &Environment) -> Result<OrtScorer, ModelLoadError> {
        OrtScorer::new(environment, &self.bytes, FEATURE_COUNT).map_err(|source| {
            ModelLoadError::Ort {
                id: self.info.id.clone(),
                source,
            }
        })
    }

    /// A parity checker of the model's two backends.
    pub fn parity_checker(
        &self,
        environment: &Environment,
    ) -> Result<ParityChecker, ModelLoadError> {
        Ok(ParityChecker::new(self.native(), self.ort(environment)?))
    }

    /// A warmed scorer on `backend`, ready for the hot thread.
    pub fn scorer(
        &self,
        backend: ScorerBackend,
        environment: Option<&Environment>,
    ) -> Result<Box<dyn Scorer>, ModelLoadError> {
        let mut scorer: Box<dyn Scorer> = match (backend, environment) {
            (ScorerBackend::Native, _) => Box::new(self.native()),
            (ScorerBackend::Onnx, Some(environment)) => Box::new(self.ort(environment)?),
            (ScorerBackend::Onnx, None) => {
                return Err(ModelLoadError::Ort {
                    id: self.info.id.clone(),
                    source: OrtError::Runtime("ONNX Runtime is not loaded".to_owned()),
                });
            }
        };
        for row in boundary_rows(&self.ensemble, WARM_UP_ROWS, 11) {
            let mut vector: FeatureVector = [0.0; FEATURE_COUNT];
            vector.copy_from_slice(&row[..FEATURE_COUNT]);
            scorer.score(&vector);
        }
        Ok(scorer)
    }
}

/// Reads and checks the model in `slot` of `registry`; with ONNX Runtime, the two backends
/// must agree on [`LOAD_PARITY_ROWS`] rows at and next to the thresholds.
pub fn load_slot(
    registry: &Path,
    slot: Slot,
    environment: Option<&Environment>,
) -> Result<CheckedModel, ModelLoadError> {
    let id = read_slot(registry, slot)?.ok_or_else(|| ModelLoadError::EmptySlot {
        registry: registry.to_path_buf(),
        slot: slot.name(),
    })?;
    load_model(&registry.join(&id), environment)
}

/// Reads and checks the model in `dir` (model.json and model.onnx).
pub fn load_model(
    dir: &Path,
    environment: Option<&Environment>,
) -> Result<CheckedModel, ModelLoadError> {
    let info = ModelInfo::read(dir)?;
    if info.schema_hash != FEATURE_SCHEMA_HASH {
        return Err(ModelLoadError::Schema {
            id: info.id,
            found: info.schema_hash,
        });
    }
    let (tau_entry, tau_hold) = (info.thresholds.tau_entry, info.thresholds.tau_hold);
    if !((0.0..=1.0).contains(&tau_entry)
        && (0.0..=1.0).contains(&tau_hold)
        && tau_hold <= tau_entry)
    {
        return Err(ModelLoadError::Thresholds {
            id: info.id,
            tau_entry,
            tau_hold,
        });
    }
    let path = dir.join(MODEL_FILE);
    let bytes = std::fs::read(&path).map_err(|source| ModelLoadError::Io {
        path: path.clone(),
        source,
    })?;
    let ensemble = read_onnx(&bytes).map_err(|source| ModelLoadError::Model { path, source })?;
    if ensemble.n_features != FEATURE_COUNT {
        return Err(ModelLoadError::Width {
            id: info.id,
            found: ensemble.n_features,
        });
    }
    let corrupt = ensemble.trees.iter().position(|tree| {
        tree.nodes.iter().any(|node| {
            matches!(node, crate::model::TreeNode::Branch { threshold, .. } if !threshold.is_finite())
        })
    });
    if let Some(tree) = corrupt {
        return Err(ModelLoadError::NonFiniteSplit { id: info.id, tree });
    }
    let model = CheckedModel {
        info,
        bytes,
        ensemble,
    };
    if let Some(environment) = environment {
        let mut checker = model.parity_checker(environment)?;
        for row in boundary_rows(&model.ensemble, LOAD_PARITY_ROWS, 3) {
            checker.check(&row).map_err(|source| ModelLoadError::Ort {
                id: model.info.id.clone(),
                source,
            })?;
        }
        if checker.mismatches() > 0 {
            return Err(ModelLoadError::Parity {
                id: model.info.id.clone(),
                mismatches: checker.mismatches(),
                rows: checker.compared(),
                max_difference: checker.max_difference(),
            });
        }
    }
    Ok(model)
}

/// The thresholds a shadow (or canary) model uses: its metadata's, or the configured ones.
pub fn shadow_thresholds(info: &ModelInfo, shadow: &Shadow) -> Thresholds {
    if shadow.use_threshold_from_meta {
        info.thresholds
    } else {
        Thresholds {
            tau_entry: shadow.tau_entry,
            tau_hold: shadow.tau_hold,
        }
    }
}

/// A model handed to the hot thread as `route`.
pub fn swap(
    model: &CheckedModel,
    route: Route,
    thresholds: Thresholds,
    backend: ScorerBackend,
    environment: Option<&Environment>,
) -> Result<ModelSwap, ModelLoadError> {
    Ok(ModelSwap {
        route,
        id: model.info.id.clone(),
        scorer: model.scorer(backend, environment)?,
        tau_entry: thresholds.tau_entry as f32,
        tau_hold: thresholds.tau_hold as f32,
    })
}

/// The registry thread's inputs.
pub struct RegistryInputs {
    /// The registry directory.
    pub registry: PathBuf,
    /// Ids in the slots at start (already handed over).
    pub active_id: String,
    /// The shadow model at start, if any.
    pub shadow: Option<CheckedModel>,
    /// Scorer backend of the hot path.
    pub backend: ScorerBackend,
    /// `ai_scorer.shadow`.
    pub shadow_config: Shadow,
    /// `rollout.mode`: the shadow model trades as the canary unless disabled.
    pub rollout: RolloutMode,
    /// ONNX Runtime, when loaded.
    pub environment: Option<Arc<Environment>>,
    /// New models to the hot thread.
    pub models: Producer<ModelSwap>,
    /// Replaced models from the hot thread, dropped here.
    pub retired: Consumer<ModelSwap>,
    /// Scored candidates for shadow scoring.
    pub samples: Consumer<Sample>,
    /// New parity checkers to the parity thread.
    pub parity: Sender<ParityChecker>,
    /// The board.
    pub board: SharedBoard,
    /// Set when the hot thread has finished.
    pub done: Arc<AtomicBool>,
}

/// Runs the registry thread until the hot thread is done.
pub fn run_registry(mut inputs: RegistryInputs) {
    let environment = inputs.environment.clone();
    let environment = environment.as_deref();
    let mut active_id = Some(inputs.active_id.clone());
    let mut shadow = inputs.shadow.take().map(|model| {
        let native = model.native();
        let taus = shadow_thresholds(&model.info, &inputs.shadow_config);
        (model.info.id.clone(), native, taus)
    });
    let mut shadow_slot = shadow.as_ref().map(|(id, _, _)| id.clone());
    // Swaps not yet taken by the hot thread (its ring is full).
    let mut pending: Vec<ModelSwap> = Vec::new();
    let mut next_watch = Instant::now() + WATCH_INTERVAL;
    loop {
        let finished = inputs.done.load(Ordering::Acquire);
        while let Ok(retired) = inputs.retired.pop() {
            drop(retired);
        }
        while let Ok(sample) = inputs.samples.pop() {
            if inputs.shadow_config.enabled
                && let Some((_, native, thresholds)) = shadow.as_ref()
            {
                let score = native.predict(&sample.features);
                let approved = score >= thresholds.tau_entry as f32;
                inputs.board.lock().record_shadow_score(score, approved);
            }
        }
        while !pending.is_empty() {
            match inputs.models.push(pending.remove(0)) {
                Ok(()) => inputs.board.lock().model_loads += 1,
                Err(rtrb::PushError::Full(swap)) => {
                    pending.insert(0, swap);
                    break;
                }
            }
        }
        if finished {
            break;
        }
        if Instant::now() >= next_watch {
            next_watch = Instant::now() + WATCH_INTERVAL;
            watch_active(&inputs, environment, &mut active_id, &mut pending);
            watch_shadow(
                &inputs,
                environment,
                &mut shadow_slot,
                &mut shadow,
                &mut pending,
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn refuse(board: &SharedBoard, slot: Slot, err: &ModelLoadError) {
    eprintln!(
        "registry: {} model refused, the running one is kept: {err}",
        slot.name()
    );
    board.lock().model_load_failures += 1;
}

/// Loads the model the active slot points at when it changed.
fn watch_active(
    inputs: &RegistryInputs,
    environment: Option<&Environment>,
    active_id: &mut Option<String>,
    pending: &mut Vec<ModelSwap>,
) {
    let id = match read_slot(&inputs.registry, Slot::Active) {
        Ok(id) => id,
        Err(err) => return eprintln!("registry: {err}"),
    };
    if id.is_none() || id == *active_id {
        return;
    }
    // Tried once per change of the slot, whatever the outcome.
    *active_id = id;
    let loaded = load_slot(&inputs.registry, Slot::Active, environment).and_then(|model| {
        let thresholds = model.info.thresholds;
        let swap = swap(
            &model,
            Route::Active,
            thresholds,
            inputs.backend,
            environment,
        )?;
        let checker = environment
            .map(|environment| model.parity_checker(environment))
            .transpose()?;
        Ok((model, swap, checker))
    });
    match loaded {
        Ok((model, swap, checker)) => {
            eprintln!("registry: active model {} loaded", model.id());
            if let Some(checker) = checker {
                let _ = inputs.parity.send(checker);
            }
            let mut board = inputs.board.lock();
            board.active_id = model.info.id.clone();
            board
                .tau_entry
                .insert(model.info.id.clone(), model.info.thresholds.tau_entry);
            pending.push(swap);
        }
        Err(err) => refuse(&inputs.board, Slot::Active, &err),
    }
}

/// Loads the model the shadow slot points at when it changed: shadow scoring, and the canary.
fn watch_shadow(
    inputs: &RegistryInputs,
    environment: Option<&Environment>,
    shadow_slot: &mut Option<String>,
    shadow: &mut Option<(String, NativeModel, Thresholds)>,
    pending: &mut Vec<ModelSwap>,
) {
    let id = match read_slot(&inputs.registry, Slot::Shadow) {
        Ok(id) => id,
        Err(err) => return eprintln!("registry: {err}"),
    };
    if id.is_none() || id == *shadow_slot {
        return;
    }
    *shadow_slot = id;
    let loaded = load_slot(&inputs.registry, Slot::Shadow, environment).and_then(|model| {
        let taus = shadow_thresholds(&model.info, &inputs.shadow_config);
        let canary = (inputs.rollout != RolloutMode::Disabled)
            .then(|| swap(&model, Route::Canary, taus, inputs.backend, environment))
            .transpose()?;
        Ok((model, taus, canary))
    });
    match loaded {
        Ok((model, taus, canary)) => {
            eprintln!("registry: shadow model {} loaded", model.id());
            let mut board = inputs.board.lock();
            board.shadow_id = Some(model.info.id.clone());
            board
                .tau_entry
                .insert(model.info.id.clone(), taus.tau_entry);
            *shadow = Some((model.info.id.clone(), model.native(), taus));
            pending.extend(canary);
        }
        Err(err) => refuse(&inputs.board, Slot::Shadow, &err),
    }
}

/// The parity thread's inputs.
pub struct ParityInputs {
    /// The checker of the model active at start, if ONNX Runtime is loaded.
    pub checker: Option<ParityChecker>,
    /// Checkers of later active models.
    pub checkers: Receiver<ParityChecker>,
    /// Scored candidates.
    pub samples: Consumer<Sample>,
    /// The board.
    pub board: SharedBoard,
    /// Set when the hot thread has finished.
    pub done: Arc<AtomicBool>,
}

/// Runs the parity thread until the hot thread is done and the ring is drained.
pub fn run_parity(mut inputs: ParityInputs) {
    let (mut compared, mut mismatches) = (0_u64, 0_u64);
    let mut checker = inputs.checker.take();
    loop {
        let finished = inputs.done.load(Ordering::Acquire);
        while let Ok(next) = inputs.checkers.try_recv() {
            if let Some(old) = checker.replace(next) {
                compared += old.compared();
                mismatches += old.mismatches();
            }
        }
        let mut worked = false;
        while let Ok(sample) = inputs.samples.pop() {
            worked = true;
            let Some(checker) = checker.as_mut() else {
                continue;
            };
            if sample.route != Route::Active {
                continue;
            }
            if let Err(err) = checker.check(&sample.features) {
                eprintln!("parity: {err}");
            }
        }
        if let Some(checker) = checker.as_ref() {
            let mut board = inputs.board.lock();
            board.parity_compared = compared + checker.compared();
            board.onnx_parity_fail_total = mismatches + checker.mismatches();
            board.parity_max_difference = board
                .parity_max_difference
                .max(f64::from(checker.max_difference()));
        }
        if finished && inputs.samples.is_empty() {
            break;
        }
        if !worked {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}
