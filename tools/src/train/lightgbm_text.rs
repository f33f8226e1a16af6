//! LightGBM's text model format, read into the engine's [`TreeEnsemble`] (from which the
//! project's own ONNX writer makes `model.onnx`).
//!
//! Each `Tree=` block lists internal nodes (`split_feature`, `threshold`, `decision_type`,
//! `left_child`, `right_child`; a negative child `-k` is leaf `k - 1`) and `leaf_value`. Shrinkage
//! is applied to the leaf values already, and `boost_from_average` folds the initial score into
//! the first tree. `decision_type` packs: bit 0 categorical, bit 1 default-left, bits 2..3 the
//! missing type (0 none: NaN is compared as 0.0; 1 zero; 2 NaN: NaN goes the default way).

use anyhow::{Context, Result, bail, ensure};
use engine::model::{Tree, TreeEnsemble, TreeNode};

/// Reads a binary LightGBM model from its text form.
pub(crate) fn parse(text: &str) -> Result<TreeEnsemble> {
    let header = text.split("\nTree=").next().unwrap_or_default();
    let value = |key: &str| -> Option<&str> {
        header
            .lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
    };
    let objective = value("objective").context("no objective line")?;
    let mut parts = objective.split_whitespace();
    ensure!(
        parts.next() == Some("binary"),
        "objective {objective:?}: only binary models can be exported"
    );
    let sigmoid: f64 = parts
        .find_map(|part| part.strip_prefix("sigmoid:"))
        .map_or(Ok(1.0), str::parse)
        .context("objective sigmoid")?;
    let max_feature: usize = value("max_feature_idx")
        .context("no max_feature_idx line")?
        .parse()
        .context("max_feature_idx")?;
    ensure!(
        value("num_class").is_none_or(|classes| classes == "1"),
        "multi-class models cannot be exported"
    );
    let mut trees = Vec::new();
    for (index, block) in text.split("\nTree=").skip(1).enumerate() {
        let block = block.split("\nend of trees").next().unwrap_or(block);
        trees.push(parse_tree(block, sigmoid).with_context(|| format!("tree {index}"))?);
    }
    ensure!(!trees.is_empty(), "the model has no trees");
    Ok(TreeEnsemble {
        n_features: max_feature + 1,
        trees,
    })
}

/// Total split gain of each of `n_features` features over every tree (LightGBM's "gain"
/// importance), from the `split_feature` and `split_gain` lines of the text form.
pub(crate) fn gain_by_feature(text: &str, n_features: usize) -> Result<Vec<f64>> {
    let mut gains = vec![0.0; n_features];
    for (index, block) in text.split("\nTree=").skip(1).enumerate() {
        let block = block.split("\nend of trees").next().unwrap_or(block);
        let field = |key: &str| {
            block
                .lines()
                .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        };
        let (Some(features), Some(split_gains)) = (field("split_feature"), field("split_gain"))
        else {
            continue; // A single-leaf tree splits nothing.
        };
        for (feature, gain) in features
            .split_whitespace()
            .zip(split_gains.split_whitespace())
        {
            let feature: usize = feature
                .parse()
                .with_context(|| format!("tree {index}: split_feature {feature:?}"))?;
            let gain: f64 = gain
                .parse()
                .with_context(|| format!("tree {index}: split_gain {gain:?}"))?;
            ensure!(
                feature < n_features,
                "tree {index}: split on feature {feature} of {n_features}"
            );
            gains[feature] += gain;
        }
    }
    Ok(gains)
}

fn parse_tree(block: &str, sigmoid: f64) -> Result<Tree> {
    let field = |key: &str| -> Option<&str> {
        block
            .lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
    };
    let numbers = |key: &str| -> Result<Vec<f64>> {
        field(key)
            .with_context(|| format!("no {key} line"))?
            .split_whitespace()
            .map(|item| {
                item.parse::<f64>()
                    .with_context(|| format!("{key}: {item:?}"))
            })
            .collect()
    };
    let leaves: usize = field("num_leaves")
        .context("no num_leaves line")?
        .parse()
        .context("num_leaves")?;
    ensure!(
        field("num_cat").is_none_or(|cats| cats == "0"),
        "categorical splits cannot be exported"
    );
    ensure!(
        field("is_linear").is_none_or(|linear| linear == "0"),
        "linear trees cannot be exported"
    );
    let leaf_values: Vec<f64> = numbers("leaf_value")?
        .into_iter()
        .map(|value| value * sigmoid)
        .collect();
    ensure!(
        leaf_values.len() == leaves,
        "{} leaf values for {leaves} leaves",
        leaf_values.len()
    );
    if leaves == 1 {
        return Ok(Tree {
            nodes: vec![TreeNode::Leaf {
                value: leaf_values[0],
            }],
        });
    }
    let internal = leaves - 1;
    let features = numbers("split_feature")?;
    let thresholds = numbers("threshold")?;
    let decisions = numbers("decision_type")?;
    let left = numbers("left_child")?;
    let right = numbers("right_child")?;
    for (name, list) in [
        ("split_feature", &features),
        ("threshold", &thresholds),
        ("decision_type", &decisions),
        ("left_child", &left),
        ("right_child", &right),
    ] {
        ensure!(
            list.len() == internal,
            "{name} has {} entries for {internal} internal nodes",
            list.len()
        );
    }
    // Internal nodes keep their indices; leaf k goes to internal + k.
    let child = |raw: f64| -> Result<u32> {
        let index = if raw < 0.0 {
            let leaf = (-raw) as usize - 1;
            ensure!(leaf < leaves, "leaf {leaf} out of range");
            internal + leaf
        } else {
            let node = raw as usize;
            ensure!(node < internal, "node {node} out of range");
            node
        };
        Ok(u32::try_from(index)?)
    };
    let mut nodes = Vec::with_capacity(internal + leaves);
    for node in 0..internal {
        let decision = decisions[node] as u32;
        if decision & 1 != 0 {
            bail!("node {node}: categorical split");
        }
        let default_left = decision & 2 != 0;
        let threshold = thresholds[node];
        let missing_yes = match (decision >> 2) & 3 {
            // No missing type: LightGBM compares NaN as 0.0.
            0 => 0.0 <= threshold,
            2 => default_left,
            _ => bail!("node {node}: zero-as-missing splits cannot be exported"),
        };
        nodes.push(TreeNode::Branch {
            feature: u32::try_from(features[node] as usize)?,
            threshold,
            yes: child(left[node])?,
            no: child(right[node])?,
            missing_yes,
        });
    }
    nodes.extend(
        leaf_values
            .into_iter()
            .map(|value| TreeNode::Leaf { value }),
    );
    Ok(Tree { nodes })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL: &str = "tree
version=v4
num_class=1
num_tree_per_iteration=1
label_index=0
max_feature_idx=2
objective=binary sigmoid:1
feature_names=a b c

Tree=0
num_leaves=3
num_cat=0
split_feature=0 2
split_gain=1 1
threshold=0.5 1.0000000000000002
decision_type=2 10
left_child=1 -1
right_child=-2 -3
leaf_value=-0.25 0.5 0.125
is_linear=0
shrinkage=1


Tree=1
num_leaves=1
num_cat=0
split_feature=
threshold=
decision_type=
left_child=
right_child=
leaf_value=0.0625
is_linear=0
shrinkage=0.1


end of trees

feature_importances:
a=1
";

    #[test]
    fn trees_leaves_and_missing_directions_are_read() {
        let ensemble = parse(MODEL).unwrap();
        assert_eq!(ensemble.n_features, 3);
        assert_eq!(
            ensemble.trees[0].nodes,
            vec![
                TreeNode::Branch {
                    feature: 0,
                    threshold: 0.5,
                    yes: 1,
                    no: 3,
                    missing_yes: true,
                },
                TreeNode::Branch {
                    feature: 2,
                    threshold: 1.0000000000000002,
                    yes: 2,
                    no: 4,
                    missing_yes: true,
                },
                TreeNode::Leaf { value: -0.25 },
                TreeNode::Leaf { value: 0.5 },
                TreeNode::Leaf { value: 0.125 },
            ]
        );
        assert_eq!(
            ensemble.trees[1].nodes,
            vec![TreeNode::Leaf { value: 0.0625 }]
        );
        // x0 = 0.2 goes left, x2 = 1.0 <= 1.0000000000000002 goes left again: -0.25 + 0.0625.
        let score: f64 = ensemble.leaf_values(&[0.2, 0.0, 1.0]).sum();
        assert_eq!(score, -0.1875);
    }

    #[test]
    fn gain_is_summed_per_feature_over_the_trees() {
        let model = MODEL.replace("split_gain=1 1", "split_gain=3.5 1.25");
        assert_eq!(gain_by_feature(&model, 3).unwrap(), vec![3.5, 0.0, 1.25]);
        let more = model.replace(
            "\n\nend of trees",
            "\nTree=2\nnum_leaves=2\nsplit_feature=0\nsplit_gain=2\n\n\nend of trees",
        );
        assert_eq!(gain_by_feature(&more, 3).unwrap(), vec![5.5, 0.0, 1.25]);
        assert_eq!(
            format!("{:#}", gain_by_feature(&model, 2).unwrap_err()),
            "tree 0: split on feature 2 of 2"
        );
    }

    #[test]
    fn models_that_cannot_be_exported_are_refused_with_the_reason() {
        let multiclass = MODEL.replace("objective=binary sigmoid:1", "objective=multiclass");
        assert_eq!(
            parse(&multiclass).unwrap_err().to_string(),
            "objective \"multiclass\": only binary models can be exported"
        );
        let categorical = MODEL.replace("decision_type=2 10", "decision_type=1 10");
        assert_eq!(
            format!("{:#}", parse(&categorical).unwrap_err()),
            "tree 0: node 0: categorical split"
        );
        let short = MODEL.replace("leaf_value=-0.25 0.5 0.125", "leaf_value=-0.25 0.5");
        assert_eq!(
            format!("{:#}", parse(&short).unwrap_err()),
            "tree 0: 2 leaf values for 3 leaves"
        );
    }
}
