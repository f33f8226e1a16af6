//! A deterministic tree ensemble for tests and benches until trained models exist: LightGBM's
//! shape (binary, logistic, a fixed number of leaves per tree) over the feature set, with f64
//! thresholds that are mostly not representable in f32, as trained thresholds are.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::ensemble::{Tree, TreeEnsemble, TreeNode};
use super::registry::{
    MODEL_FILE, MODEL_INFO_FILE, ModelInfo, RegistryError, Slot, Thresholds, set_slot,
    write_json_atomically,
};
use crate::features::{FEATURE_COUNT, FEATURE_NAMES, FEATURE_SCHEMA_HASH};

/// `n_trees` trees of `n_leaves` leaves each over `n_features` features, from `seed`.
///
/// Feature `f` is split on thresholds drawn from `[-scale, scale]` with `scale = 1 + f`, so a
/// test can draw rows from the same ranges.
pub fn generate(n_trees: usize, n_leaves: usize, n_features: usize, seed: u64) -> TreeEnsemble {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let trees = (0..n_trees)
        .map(|_| tree(&mut rng, n_leaves.max(1), n_features.max(1)))
        .collect();
    TreeEnsemble {
        n_features: n_features.max(1),
        trees,
    }
}

/// The range thresholds of feature `feature` are drawn from.
pub fn feature_scale(feature: usize) -> f64 {
    1.0 + feature as f64
}

fn tree(rng: &mut ChaCha8Rng, n_leaves: usize, n_features: usize) -> Tree {
    let mut nodes = vec![TreeNode::Leaf { value: 0.0 }];
    let mut leaves = vec![0_usize];
    while leaves.len() < n_leaves {
        // Split a random leaf into a branch with two new leaves.
        let pick = rng.random_range(0..leaves.len());
        let at = leaves.swap_remove(pick);
        let feature = rng.random_range(0..n_features);
        let scale = feature_scale(feature);
        let threshold = rng.random_range(-scale..scale);
        let yes = nodes.len() as u32;
        nodes.push(TreeNode::Leaf { value: 0.0 });
        nodes.push(TreeNode::Leaf { value: 0.0 });
        nodes[at] = TreeNode::Branch {
            feature: feature as u32,
            threshold,
            yes,
            no: yes + 1,
            missing_yes: rng.random(),
        };
        leaves.extend([yes as usize, yes as usize + 1]);
    }
    for &leaf in &leaves {
        nodes[leaf] = TreeNode::Leaf {
            value: rng.random_range(-0.1..0.1),
        };
    }
    Tree { nodes }
}

/// `count` rows for `model`: features drawn from a little beyond the threshold ranges, and in
/// every other row eight features set exactly on a threshold's nearest f32 or its neighbours
/// (where rounding mistakes show), and a NaN now and then.
pub fn boundary_rows(model: &TreeEnsemble, count: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let thresholds: Vec<(u32, f64)> = model
        .trees
        .iter()
        .flat_map(|tree| tree.nodes.iter())
        .filter_map(|node| match *node {
            TreeNode::Branch {
                feature, threshold, ..
            } => Some((feature, threshold)),
            TreeNode::Leaf { .. } => None,
        })
        .collect();
    (0..count)
        .map(|index| {
            let mut row: Vec<f32> = (0..model.n_features)
                .map(|feature| {
                    let scale = feature_scale(feature) * 1.1;
                    rng.random_range(-scale..scale) as f32
                })
                .collect();
            if index % 2 == 0 && !thresholds.is_empty() {
                for _ in 0..8 {
                    let (feature, threshold) = thresholds[rng.random_range(0..thresholds.len())];
                    let nearest = threshold as f32;
                    row[feature as usize] =
                        [nearest.next_down(), nearest, nearest.next_up()][rng.random_range(0..3)];
                }
            }
            if index % 97 == 0 {
                row[index % model.n_features] = f32::NAN;
            }
            row
        })
        .collect()
}

/// Puts the synthetic model of `seed` (200 trees of 31 leaves over the engine's features) into
/// `registry` as model `id` with `thresholds`, and points `slot` at it: a registry for
/// end-to-end runs of the engine before any model is trained.
pub fn promote_synthetic(
    registry: &std::path::Path,
    id: &str,
    seed: u64,
    thresholds: Thresholds,
    slot: Slot,
) -> Result<(), RegistryError> {
    let dir = registry.join(id);
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| RegistryError::Io { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let onnx = super::write_onnx(&generate(200, 31, FEATURE_COUNT, seed), &[]);
    let file = dir.join(MODEL_FILE);
    std::fs::write(&file, onnx).map_err(io(&file))?;
    let info = ModelInfo {
        id: id.to_owned(),
        created_at: "2026-01-01T00:00:00Z".to_owned(),
        schema_hash: FEATURE_SCHEMA_HASH.to_owned(),
        feature_names: FEATURE_NAMES
            .iter()
            .map(|name| (*name).to_owned())
            .collect(),
        thresholds,
        metrics: Default::default(),
        training_window_ms: [0, 0],
        reference: Vec::new(),
        drift_features: Vec::new(),
        score_drift_levels: None,
    };
    write_json_atomically(&dir.join(MODEL_INFO_FILE), &info)?;
    set_slot(registry, slot, id)
}

/// Writes `dir/test.yml`, a profile for runs in a scratch directory: the registry
/// `dir/registry` with the synthetic model of seed 42 active as `synthetic-42` (tau_entry 0.5,
/// tau_hold 0.4), data under `dir/data`, `/metrics` on any free loopback port. Returns its
/// path, for `--profile`.
pub fn scratch_profile(dir: &std::path::Path) -> Result<std::path::PathBuf, RegistryError> {
    let registry = dir.join("registry");
    let thresholds = Thresholds {
        tau_entry: 0.5,
        tau_hold: 0.4,
    };
    promote_synthetic(&registry, "synthetic-42", 42, thresholds, Slot::Active)?;
    let path = dir.join("test.yml");
    let text = format!(
        "paths:\n  data: {}\n  registry: {}\nmetrics:\n  listen: 127.0.0.1:0\n",
        dir.join("data").display(),
        registry.display()
    );
    std::fs::write(&path, text).map_err(|source| RegistryError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}
