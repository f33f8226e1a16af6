//! A binary tree-ensemble classifier in memory, as LightGBM defines it, and its ONNX form.
//!
//! LightGBM sends a row left when `x <= threshold`, comparing in f64; ONNX stores thresholds as
//! f32. Rounding a threshold to the nearest f32 can move it above the f64 value, and a feature
//! sitting between the two then goes the wrong way. The writer here rounds every threshold
//! **down** to the largest f32 not above it: for an f32 feature `x`, `x <= t` and
//! `x <= round_down(t)` then agree for every `x`, so the ONNX model decides every comparison
//! exactly as LightGBM does. One more LightGBM rule needs the same care: it reads inputs with
//! `|x| <= 1e-35` as 0, so a threshold inside that band moves to the band's edge
//! ([`f32_threshold`]).
//!
//! The ONNX form is what onnxmltools emits for a LightGBM binary model with `zipmap=False`: one
//! `ai.onnx.ml` `TreeEnsembleClassifier` node with input `input` (float `[N, F]`), outputs
//! `label` (int64 `[N]`) and `probabilities` (float `[N, 2]`), class labels 0 and 1, one weight
//! column and a `LOGISTIC` post-transform (an initial score belongs in the first tree's
//! leaves).

use super::onnx::{
    AttributeProto, Dimension, DimensionValue, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, StringStringEntryProto, TensorShapeProto, TypeProto, TypeProtoTensor,
    ValueInfoProto, data_type,
};

/// One node of a tree.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TreeNode {
    /// `x[feature] <= threshold` goes to `yes`, otherwise to `no`; a missing value (NaN) goes to
    /// `yes` when `missing_yes`.
    Branch {
        /// Feature index.
        feature: u32,
        /// Threshold, as LightGBM keeps it.
        threshold: f64,
        /// Node index when the comparison holds.
        yes: u32,
        /// Node index otherwise.
        no: u32,
        /// Where NaN goes.
        missing_yes: bool,
    },
    /// A leaf adds `value` to the raw score.
    Leaf {
        /// Leaf value.
        value: f64,
    },
}

/// A tree: its nodes, the root first.
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    /// Nodes; index 0 is the root.
    pub nodes: Vec<TreeNode>,
}

/// A binary classifier: probability = logistic(sum of one leaf per tree).
#[derive(Debug, Clone, PartialEq)]
pub struct TreeEnsemble {
    /// Number of input features.
    pub n_features: usize,
    /// The trees.
    pub trees: Vec<Tree>,
}

/// Why a model cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// Not a protobuf ONNX model.
    #[error("not an ONNX model: {0}")]
    Decode(String),
    /// No tree-ensemble classifier in the graph.
    #[error("the graph has no TreeEnsembleClassifier node")]
    NoTreeEnsemble,
    /// An attribute is missing or inconsistent.
    #[error("attribute {0}: {1}")]
    BadAttribute(&'static str, &'static str),
    /// A node kind this evaluator does not support.
    #[error("unsupported node mode {0:?}")]
    UnsupportedMode(String),
    /// A post-transform other than LOGISTIC.
    #[error("unsupported post_transform {0:?} (LOGISTIC expected)")]
    UnsupportedTransform(String),
    /// The input width differs from what is expected.
    #[error("model takes {found} features, {expected} expected")]
    FeatureCount {
        /// Expected width.
        expected: usize,
        /// The model's width.
        found: usize,
    },
}

/// The largest f32 not above `value`.
pub fn f32_at_or_below(value: f64) -> f32 {
    let nearest = value as f32;
    if f64::from(nearest) > value {
        nearest.next_down()
    } else {
        nearest
    }
}

/// LightGBM reads every input with `|x| <= 1e-35` (this f32) as 0.0 when it predicts: its
/// dense-row reader keeps only values beyond this bound.
pub const LIGHTGBM_ZERO_BAND: f32 = 1e-35;

/// The f32 threshold under which an f32 input compares (`x <= t`) exactly as LightGBM compares
/// it against `threshold` in f64, its zero band included: the largest f32 not above
/// `threshold`, except for thresholds inside the band, which move to its edge (`x` in the band
/// is 0 to LightGBM, so it goes left exactly when `0 <= threshold`).
pub fn f32_threshold(threshold: f64) -> f32 {
    let band = f64::from(LIGHTGBM_ZERO_BAND);
    if (0.0..band).contains(&threshold) {
        LIGHTGBM_ZERO_BAND
    } else if (-band..0.0).contains(&threshold) {
        (-LIGHTGBM_ZERO_BAND).next_down()
    } else {
        f32_at_or_below(threshold)
    }
}

/// ORT's logistic: `1 / (1 + exp(-|s|))`, mirrored for negative scores.
pub fn logistic(score: f32) -> f32 {
    let value = 1.0 / (1.0 + (-score.abs()).exp());
    if score < 0.0 { 1.0 - value } else { value }
}

impl TreeEnsemble {
    /// The leaf value each tree gives `row`, in tree order, deciding every branch as LightGBM
    /// does (`x <= threshold` in f64, inputs in the zero band read as 0; NaN follows
    /// `missing_yes`).
    pub fn leaf_values<'a>(&'a self, row: &'a [f32]) -> impl Iterator<Item = f64> + 'a {
        self.trees.iter().map(move |tree| {
            let mut index = 0;
            loop {
                match tree.nodes[index] {
                    TreeNode::Leaf { value } => break value,
                    TreeNode::Branch {
                        feature,
                        threshold,
                        yes,
                        no,
                        missing_yes,
                    } => {
                        let mut x = row[feature as usize];
                        if x.abs() <= LIGHTGBM_ZERO_BAND {
                            x = 0.0;
                        }
                        let go_yes = if x.is_nan() {
                            missing_yes
                        } else {
                            f64::from(x) <= threshold
                        };
                        index = if go_yes { yes } else { no } as usize;
                    }
                }
            }
        })
    }

    /// The probability as LightGBM computes it: f64 comparisons, f64 sum, f64 logistic.
    pub fn predict_reference(&self, row: &[f32]) -> f64 {
        let score: f64 = self.leaf_values(row).sum();
        1.0 / (1.0 + (-score).exp())
    }

    /// The ONNX model, thresholds rounded down to f32, with `metadata` as metadata_props.
    pub fn to_onnx(&self, metadata: &[(&str, &str)]) -> ModelProto {
        let mut a = Attributes::default();
        for (tree_id, tree) in self.trees.iter().enumerate() {
            for (node_id, node) in tree.nodes.iter().enumerate() {
                a.tree_ids.push(tree_id as i64);
                a.node_ids.push(node_id as i64);
                match *node {
                    TreeNode::Branch {
                        feature,
                        threshold,
                        yes,
                        no,
                        missing_yes,
                    } => {
                        a.feature_ids.push(i64::from(feature));
                        a.values.push(f32_threshold(threshold));
                        a.modes.push(b"BRANCH_LEQ".to_vec());
                        a.true_ids.push(i64::from(yes));
                        a.false_ids.push(i64::from(no));
                        a.missing_true.push(i64::from(missing_yes));
                    }
                    TreeNode::Leaf { value } => {
                        a.feature_ids.push(0);
                        a.values.push(0.0);
                        a.modes.push(b"LEAF".to_vec());
                        a.true_ids.push(0);
                        a.false_ids.push(0);
                        a.missing_true.push(0);
                        a.class_tree_ids.push(tree_id as i64);
                        a.class_node_ids.push(node_id as i64);
                        a.class_ids.push(0);
                        a.class_weights.push(value as f32);
                    }
                }
            }
        }
        let node = NodeProto {
            input: vec!["input".to_owned()],
            output: vec!["label".to_owned(), "probabilities".to_owned()],
            name: "TreeEnsembleClassifier".to_owned(),
            op_type: "TreeEnsembleClassifier".to_owned(),
            domain: "ai.onnx.ml".to_owned(),
            attribute: vec![
                AttributeProto::ints("class_ids", a.class_ids),
                AttributeProto::ints("class_nodeids", a.class_node_ids),
                AttributeProto::ints("class_treeids", a.class_tree_ids),
                AttributeProto::floats("class_weights", a.class_weights),
                AttributeProto::ints("classlabels_int64s", vec![0, 1]),
                AttributeProto::ints("nodes_falsenodeids", a.false_ids),
                AttributeProto::ints("nodes_featureids", a.feature_ids),
                AttributeProto::ints("nodes_missing_value_tracks_true", a.missing_true),
                AttributeProto::strings("nodes_modes", a.modes),
                AttributeProto::ints("nodes_nodeids", a.node_ids),
                AttributeProto::ints("nodes_treeids", a.tree_ids),
                AttributeProto::ints("nodes_truenodeids", a.true_ids),
                AttributeProto::floats("nodes_values", a.values),
                AttributeProto::string("post_transform", "LOGISTIC"),
            ],
            ..NodeProto::default()
        };
        ModelProto {
            ir_version: 8,
            producer_name: "engine".to_owned(),
            producer_version: env!("CARGO_PKG_VERSION").to_owned(),
            graph: Some(GraphProto {
                node: vec![node],
                name: "tree_ensemble".to_owned(),
                input: vec![tensor_info(
                    "input",
                    data_type::FLOAT,
                    &[None, Some(self.n_features as i64)],
                )],
                output: vec![
                    tensor_info("label", data_type::INT64, &[None]),
                    tensor_info("probabilities", data_type::FLOAT, &[None, Some(2)]),
                ],
                ..GraphProto::default()
            }),
            opset_import: vec![
                OperatorSetIdProto {
                    domain: String::new(),
                    version: 9,
                },
                OperatorSetIdProto {
                    domain: "ai.onnx.ml".to_owned(),
                    version: 1,
                },
            ],
            metadata_props: metadata
                .iter()
                .map(|(key, value)| StringStringEntryProto {
                    key: (*key).to_owned(),
                    value: (*value).to_owned(),
                })
                .collect(),
            ..ModelProto::default()
        }
    }

    /// The same model with the opset-5 `TreeEnsemble` operator and a `Sigmoid` after it: one
    /// output `probability`, `[N, 1]`, the probability of class 1.
    pub fn to_onnx_tree_ensemble_v5(&self, metadata: &[(&str, &str)]) -> ModelProto {
        let mut model = self.to_onnx(metadata);
        model.ir_version = 10;
        model.opset_import = vec![
            OperatorSetIdProto {
                domain: String::new(),
                version: 21,
            },
            OperatorSetIdProto {
                domain: "ai.onnx.ml".to_owned(),
                version: 5,
            },
        ];
        if let Some(graph) = model.graph.as_mut() {
            let sigmoid = NodeProto {
                input: vec!["score".to_owned()],
                output: vec!["probability".to_owned()],
                name: "Sigmoid".to_owned(),
                op_type: "Sigmoid".to_owned(),
                ..NodeProto::default()
            };
            graph.node = vec![
                super::tree_ensemble_v5::node(self, "input", "score"),
                sigmoid,
            ];
            graph.output = vec![tensor_info(
                "probability",
                data_type::FLOAT,
                &[None, Some(1)],
            )];
        }
        model
    }

    /// Reads the first `TreeEnsembleClassifier` or opset-5 `TreeEnsemble` node of a model
    /// (thresholds as stored, in f32); other nodes (onnxmltools' Identity, Cast, Mul) are
    /// ignored.
    pub fn from_onnx(model: &ModelProto) -> Result<TreeEnsemble, ModelError> {
        let graph = model.graph.as_ref().ok_or(ModelError::NoTreeEnsemble)?;
        let input_width = graph
            .input
            .first()
            .and_then(|input| {
                input
                    .r#type
                    .as_ref()?
                    .tensor_type
                    .as_ref()?
                    .shape
                    .as_ref()?
                    .dim
                    .get(1)
                    .cloned()
            })
            .and_then(|dim| match dim.value {
                Some(DimensionValue::DimValue(width)) => usize::try_from(width).ok(),
                _ => None,
            })
            .unwrap_or(0);
        if let Some(node) = graph
            .node
            .iter()
            .find(|node| node.op_type == "TreeEnsemble")
        {
            let sigmoid_follows = graph.node.iter().any(|other| {
                other.op_type == "Sigmoid"
                    && other
                        .input
                        .first()
                        .is_some_and(|input| node.output.first() == Some(input))
            });
            return super::tree_ensemble_v5::read(node, input_width, sigmoid_follows);
        }
        let node = graph
            .node
            .iter()
            .find(|node| node.op_type == "TreeEnsembleClassifier")
            .ok_or(ModelError::NoTreeEnsemble)?;
        let attribute = |name: &'static str| node.attribute.iter().find(|a| a.name == name);
        let ints_of =
            |name: &'static str| attribute(name).map(|a| a.ints.clone()).unwrap_or_default();
        let floats_of = |name: &'static str| {
            attribute(name)
                .map(|a| a.floats.clone())
                .unwrap_or_default()
        };
        if let Some(transform) = attribute("post_transform") {
            let transform = String::from_utf8_lossy(&transform.s).into_owned();
            if transform != "LOGISTIC" {
                return Err(ModelError::UnsupportedTransform(transform));
            }
        } else {
            return Err(ModelError::UnsupportedTransform("NONE".to_owned()));
        }
        let tree_ids = ints_of("nodes_treeids");
        let node_ids = ints_of("nodes_nodeids");
        let feature_ids = ints_of("nodes_featureids");
        let values = floats_of("nodes_values");
        let true_ids = ints_of("nodes_truenodeids");
        let false_ids = ints_of("nodes_falsenodeids");
        let missing = ints_of("nodes_missing_value_tracks_true");
        let modes = attribute("nodes_modes")
            .map(|a| a.strings.clone())
            .unwrap_or_default();
        let count = tree_ids.len();
        if [
            node_ids.len(),
            feature_ids.len(),
            values.len(),
            true_ids.len(),
            false_ids.len(),
            modes.len(),
        ]
        .iter()
        .any(|&len| len != count)
        {
            return Err(ModelError::BadAttribute("nodes_*", "lengths differ"));
        }
        let n_trees = tree_ids.iter().map(|&id| id + 1).max().unwrap_or(0);
        let mut trees: Vec<Tree> = (0..n_trees).map(|_| Tree { nodes: Vec::new() }).collect();
        let index = |value: i64, what: &'static str| {
            usize::try_from(value).map_err(|_| ModelError::BadAttribute(what, "negative"))
        };
        let mut n_features = 0;
        for i in 0..count {
            let tree = trees
                .get_mut(index(tree_ids[i], "nodes_treeids")?)
                .ok_or(ModelError::BadAttribute("nodes_treeids", "out of range"))?;
            let node_id = index(node_ids[i], "nodes_nodeids")?;
            if tree.nodes.len() <= node_id {
                tree.nodes
                    .resize(node_id + 1, TreeNode::Leaf { value: 0.0 });
            }
            tree.nodes[node_id] = match modes[i].as_slice() {
                b"LEAF" => TreeNode::Leaf { value: 0.0 },
                b"BRANCH_LEQ" => {
                    let feature = index(feature_ids[i], "nodes_featureids")?;
                    n_features = n_features.max(feature + 1);
                    TreeNode::Branch {
                        feature: feature as u32,
                        threshold: f64::from(values[i]),
                        yes: index(true_ids[i], "nodes_truenodeids")? as u32,
                        no: index(false_ids[i], "nodes_falsenodeids")? as u32,
                        missing_yes: missing.get(i).copied().unwrap_or(0) != 0,
                    }
                }
                other => {
                    return Err(ModelError::UnsupportedMode(
                        String::from_utf8_lossy(other).into_owned(),
                    ));
                }
            };
        }
        let class_tree_ids = ints_of("class_treeids");
        let class_node_ids = ints_of("class_nodeids");
        let weights = floats_of("class_weights");
        if class_tree_ids.len() != weights.len() || class_node_ids.len() != weights.len() {
            return Err(ModelError::BadAttribute("class_*", "lengths differ"));
        }
        for ((&tree_id, &node_id), &weight) in
            class_tree_ids.iter().zip(&class_node_ids).zip(&weights)
        {
            let node = trees
                .get_mut(index(tree_id, "class_treeids")?)
                .and_then(|tree| tree.nodes.get_mut(node_id as usize))
                .ok_or(ModelError::BadAttribute("class_nodeids", "out of range"))?;
            match node {
                TreeNode::Leaf { value } => *value += f64::from(weight),
                TreeNode::Branch { .. } => {
                    return Err(ModelError::BadAttribute("class_nodeids", "not a leaf"));
                }
            }
        }
        for tree in &trees {
            for node in &tree.nodes {
                if let TreeNode::Branch { yes, no, .. } = node
                    && (*yes as usize >= tree.nodes.len() || *no as usize >= tree.nodes.len())
                {
                    return Err(ModelError::BadAttribute(
                        "nodes_truenodeids",
                        "child out of range",
                    ));
                }
            }
        }
        Ok(TreeEnsemble {
            n_features: n_features.max(input_width),
            trees,
        })
    }
}

#[derive(Default)]
struct Attributes {
    tree_ids: Vec<i64>,
    node_ids: Vec<i64>,
    feature_ids: Vec<i64>,
    values: Vec<f32>,
    modes: Vec<Vec<u8>>,
    true_ids: Vec<i64>,
    false_ids: Vec<i64>,
    missing_true: Vec<i64>,
    class_tree_ids: Vec<i64>,
    class_node_ids: Vec<i64>,
    class_ids: Vec<i64>,
    class_weights: Vec<f32>,
}

fn tensor_info(name: &str, elem_type: i32, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|dim| Dimension {
            value: Some(match dim {
                Some(value) => DimensionValue::DimValue(*value),
                None => DimensionValue::DimParam("N".to_owned()),
            }),
        })
        .collect();
    ValueInfoProto {
        name: name.to_owned(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type,
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
        doc_string: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_round_down_to_f32() {
        // 0.1 rounds up to the nearest f32 (0.100000001490116...).
        let down = f32_at_or_below(0.1);
        assert!(f64::from(down) <= 0.1);
        assert_eq!(down, 0.1_f32.next_down());
        // Exactly representable values stay.
        assert_eq!(f32_at_or_below(0.5), 0.5);
        assert_eq!(f32_at_or_below(-0.1), -0.1_f32);
        // Every f32 compares the same way against both.
        for x in [0.1_f32.next_down(), 0.1_f32, 0.1_f32.next_up()] {
            assert_eq!(f64::from(x) <= 0.1, x <= down);
        }
    }

    #[test]
    fn thresholds_inside_lightgbms_zero_band_move_to_its_edge() {
        let band = LIGHTGBM_ZERO_BAND;
        // LightGBM reads x as 0 when |x| <= band.
        let lightgbm = |x: f32, t: f64| {
            let x = if x.abs() <= band { 0.0 } else { f64::from(x) };
            x <= t
        };
        let inputs = [
            -band.next_down().next_down(),
            (-band).next_down(),
            -band,
            -1e-36,
            0.0,
            1e-36,
            band,
            band.next_up(),
        ];
        for threshold in [
            -f64::from(band),
            -1e-36,
            0.0,
            1e-36,
            5e-36,
            f64::from(band),
            1e-30,
        ] {
            let exported = f32_threshold(threshold);
            for x in inputs {
                assert_eq!(
                    x <= exported,
                    lightgbm(x, threshold),
                    "x {x:e}, t {threshold:e}"
                );
            }
        }
    }

    #[test]
    fn logistic_matches_ort() {
        assert_eq!(logistic(0.0), 0.5);
        assert_eq!(logistic(2.0), 1.0 / (1.0 + (-2.0_f32).exp()));
        assert_eq!(logistic(-2.0), 1.0 - 1.0 / (1.0 + (-2.0_f32).exp()));
    }
}
