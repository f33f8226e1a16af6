//! The `ai.onnx.ml` opset-5 `TreeEnsemble` operator, which supersedes
//! `TreeEnsembleClassifier`: interior nodes and leaves in separate attribute lists, split values
//! and node modes as tensors, one output `Y` of `[N, n_targets]`. Read (for the native evaluator)
//! and written (so that ONNX Runtime can be checked against it), for binary models: one target,
//! SUM aggregation, `BRANCH_LEQ` nodes, and a logistic on the score.
//!
//! Neither ONNX Runtime 1.31 nor the ONNX reference implementation applies this operator's
//! `post_transform` (both return the raw score with LOGISTIC set), so the writer leaves it at
//! NONE and follows the node with a standard `Sigmoid`; the reader accepts that, or LOGISTIC.

use super::ensemble::{ModelError, Tree, TreeEnsemble, TreeNode, f32_at_or_below, f32_threshold};
use super::onnx::{AttributeProto, NodeProto, TensorProto, data_type};

/// `post_transform` value of NONE.
const NONE: i64 = 0;
/// `post_transform` value of LOGISTIC.
const LOGISTIC: i64 = 2;
/// `aggregate_function` value of SUM.
const SUM: i64 = 1;
/// `nodes_modes` value of BRANCH_LEQ.
const BRANCH_LEQ: u8 = 0;

/// The `TreeEnsemble` node of `ensemble`, thresholds rounded down to f32, raw score to
/// `output` (follow it with a `Sigmoid`).
pub(crate) fn node(ensemble: &TreeEnsemble, input: &str, output: &str) -> NodeProto {
    let (mut features, mut splits, mut modes, mut missing) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut true_ids, mut true_leafs, mut false_ids, mut false_leafs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut leaf_weights, mut roots) = (Vec::new(), Vec::new());
    for tree in &ensemble.trees {
        // Interior nodes and leaves are numbered separately, across all trees.
        let mut slots = Vec::with_capacity(tree.nodes.len());
        let (mut interior, mut leaves) = (features.len(), leaf_weights.len());
        for node in &tree.nodes {
            slots.push(match node {
                TreeNode::Branch { .. } => {
                    interior += 1;
                    (interior - 1, false)
                }
                TreeNode::Leaf { .. } => {
                    leaves += 1;
                    (leaves - 1, true)
                }
            });
        }
        for node in &tree.nodes {
            match *node {
                TreeNode::Branch {
                    feature,
                    threshold,
                    yes,
                    no,
                    missing_yes,
                } => {
                    features.push(i64::from(feature));
                    splits.push(f32_threshold(threshold));
                    modes.push(BRANCH_LEQ);
                    missing.push(i64::from(missing_yes));
                    let (yes, yes_leaf) = slots[yes as usize];
                    let (no, no_leaf) = slots[no as usize];
                    true_ids.push(yes as i64);
                    true_leafs.push(i64::from(yes_leaf));
                    false_ids.push(no as i64);
                    false_leafs.push(i64::from(no_leaf));
                }
                TreeNode::Leaf { value } => leaf_weights.push(value as f32),
            }
        }
        roots.push(slots.first().map_or(0, |&(index, _)| index as i64));
    }
    let leaf_count = leaf_weights.len();
    NodeProto {
        input: vec![input.to_owned()],
        output: vec![output.to_owned()],
        name: "TreeEnsemble".to_owned(),
        op_type: "TreeEnsemble".to_owned(),
        domain: "ai.onnx.ml".to_owned(),
        attribute: vec![
            AttributeProto::int("aggregate_function", SUM),
            AttributeProto::ints("leaf_targetids", vec![0; leaf_count]),
            AttributeProto::tensor(
                "leaf_weights",
                TensorProto {
                    dims: vec![leaf_count as i64],
                    data_type: data_type::FLOAT,
                    float_data: leaf_weights,
                    ..TensorProto::default()
                },
            ),
            AttributeProto::int("n_targets", 1),
            AttributeProto::ints("nodes_falseleafs", false_leafs),
            AttributeProto::ints("nodes_falsenodeids", false_ids),
            AttributeProto::ints("nodes_featureids", features),
            AttributeProto::ints("nodes_missing_value_tracks_true", missing),
            AttributeProto::tensor(
                "nodes_modes",
                TensorProto {
                    dims: vec![modes.len() as i64],
                    data_type: data_type::UINT8,
                    raw_data: modes,
                    ..TensorProto::default()
                },
            ),
            AttributeProto::tensor(
                "nodes_splits",
                TensorProto {
                    dims: vec![splits.len() as i64],
                    data_type: data_type::FLOAT,
                    float_data: splits,
                    ..TensorProto::default()
                },
            ),
            AttributeProto::ints("nodes_trueleafs", true_leafs),
            AttributeProto::ints("nodes_truenodeids", true_ids),
            AttributeProto::int("post_transform", NONE),
            AttributeProto::ints("tree_roots", roots),
        ],
        ..NodeProto::default()
    }
}

/// Reads a `TreeEnsemble` node; `sigmoid_follows` says whether a `Sigmoid` takes its output.
pub(crate) fn read(
    node: &NodeProto,
    n_features_hint: usize,
    sigmoid_follows: bool,
) -> Result<TreeEnsemble, ModelError> {
    let attribute = |name: &'static str| node.attribute.iter().find(|a| a.name == name);
    let ints_of = |name: &'static str| {
        attribute(name)
            .map(|a| a.ints.clone())
            .ok_or(ModelError::BadAttribute(name, "missing"))
    };
    let int_of = |name: &'static str, default: i64| attribute(name).map_or(default, |a| a.i);
    match (int_of("post_transform", NONE), sigmoid_follows) {
        (LOGISTIC, false) | (NONE, true) => {}
        (transform, _) => {
            return Err(ModelError::UnsupportedTransform(format!(
                "post_transform {transform}{}",
                if sigmoid_follows {
                    " followed by Sigmoid"
                } else {
                    " without a Sigmoid after it"
                }
            )));
        }
    }
    if int_of("aggregate_function", SUM) != SUM || int_of("n_targets", 1) != 1 {
        return Err(ModelError::BadAttribute(
            "aggregate_function",
            "only one target summed is supported",
        ));
    }
    let features = ints_of("nodes_featureids")?;
    let true_ids = ints_of("nodes_truenodeids")?;
    let true_leafs = ints_of("nodes_trueleafs")?;
    let false_ids = ints_of("nodes_falsenodeids")?;
    let false_leafs = ints_of("nodes_falseleafs")?;
    let roots = ints_of("tree_roots")?;
    let missing = attribute("nodes_missing_value_tracks_true")
        .map(|a| a.ints.clone())
        .unwrap_or_default();
    let splits = floats_of_tensor(
        attribute("nodes_splits").and_then(|a| a.t.as_ref()),
        "nodes_splits",
    )?;
    let weights = floats_of_tensor(
        attribute("leaf_weights").and_then(|a| a.t.as_ref()),
        "leaf_weights",
    )?;
    let modes = attribute("nodes_modes")
        .and_then(|a| a.t.as_ref())
        .ok_or(ModelError::BadAttribute("nodes_modes", "missing"))?;
    let modes: Vec<u8> = if modes.raw_data.is_empty() {
        modes.int32_data.iter().map(|&m| m as u8).collect()
    } else {
        modes.raw_data.clone()
    };
    let count = features.len();
    if [
        true_ids.len(),
        true_leafs.len(),
        false_ids.len(),
        false_leafs.len(),
        splits.len(),
        modes.len(),
    ]
    .iter()
    .any(|&len| len != count)
    {
        return Err(ModelError::BadAttribute("nodes_*", "lengths differ"));
    }
    if let Some(&mode) = modes.iter().find(|&&mode| mode != BRANCH_LEQ) {
        return Err(ModelError::UnsupportedMode(format!("mode {mode}")));
    }
    let mut n_features = n_features_hint;
    let mut trees = Vec::with_capacity(roots.len());
    for &root in &roots {
        let mut nodes = Vec::new();
        // (interior index, slot in `nodes`) still to expand.
        let mut pending = vec![(root, 0_usize)];
        nodes.push(TreeNode::Leaf { value: 0.0 });
        let mut budget = count + weights.len() + 1;
        while let Some((index, slot)) = pending.pop() {
            budget = budget
                .checked_sub(1)
                .ok_or(ModelError::BadAttribute("tree_roots", "cycle"))?;
            let i = usize::try_from(index).ok().filter(|&i| i < count).ok_or(
                ModelError::BadAttribute("nodes_truenodeids", "out of range"),
            )?;
            let feature = u32::try_from(features[i])
                .map_err(|_| ModelError::BadAttribute("nodes_featureids", "negative"))?;
            n_features = n_features.max(feature as usize + 1);
            let mut child =
                |id: i64, leaf: i64, pending: &mut Vec<(i64, usize)>| -> Result<u32, ModelError> {
                    let at = nodes.len();
                    if leaf != 0 {
                        let weight = usize::try_from(id)
                            .ok()
                            .and_then(|id| weights.get(id))
                            .ok_or(ModelError::BadAttribute("leaf_weights", "out of range"))?;
                        nodes.push(TreeNode::Leaf {
                            value: f64::from(*weight),
                        });
                    } else {
                        nodes.push(TreeNode::Leaf { value: 0.0 });
                        pending.push((id, at));
                    }
                    Ok(at as u32)
                };
            let yes = child(true_ids[i], true_leafs[i], &mut pending)?;
            let no = child(false_ids[i], false_leafs[i], &mut pending)?;
            nodes[slot] = TreeNode::Branch {
                feature,
                threshold: f64::from(splits[i]),
                yes,
                no,
                missing_yes: missing.get(i).copied().unwrap_or(0) != 0,
            };
        }
        trees.push(Tree { nodes });
    }
    Ok(TreeEnsemble { n_features, trees })
}

fn floats_of_tensor(
    tensor: Option<&TensorProto>,
    name: &'static str,
) -> Result<Vec<f32>, ModelError> {
    let tensor = tensor.ok_or(ModelError::BadAttribute(name, "missing"))?;
    if !tensor.float_data.is_empty() {
        return Ok(tensor.float_data.clone());
    }
    if !tensor.double_data.is_empty() {
        return Ok(tensor
            .double_data
            .iter()
            .map(|&value| f32_at_or_below(value))
            .collect());
    }
    if tensor.data_type == data_type::FLOAT && tensor.raw_data.len() % 4 == 0 {
        return Ok(tensor
            .raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect());
    }
    Err(ModelError::BadAttribute(name, "not a float tensor"))
}
