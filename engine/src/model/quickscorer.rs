//! QuickScorer (Lucchese et al., SIGIR 2015): a tree ensemble scored feature by feature
//! instead of tree by tree, with no data-dependent branch per node.
//!
//! Each tree's leaves are numbered left to right and a tree's state is a bitvector of the
//! leaves still reachable, all ones to start. A branch node whose test fails (`x > threshold`:
//! the row goes right) rules out every leaf of its left subtree: its mask has those bits
//! cleared. The nodes of each feature are kept sorted by threshold, so for one row the failing
//! nodes of a feature are a prefix of its list: the scan ANDs their masks into their trees'
//! bitvectors and stops at the first threshold not below the value. Every tree's exit leaf is
//! then the leftmost reachable leaf (the lowest set bit): the failing nodes rule out exactly the
//! leaves left of the exit, and nothing right of it is left of it.
//!
//! A missing value (NaN) fails no `t < x` test; the nodes that send NaN right are in a second
//! list per feature, applied when the value is NaN.
//!
//! Trees go in blocks of at most [`BLOCK_TREES`], each with its own lists, so the bitvectors of a
//! block fit in a few cache lines and live on the stack; leaves per tree at most
//! [`MAX_LEAVES`] (one `u32` bitvector). The sum runs over the trees in their order, in f32, as
//! ONNX Runtime sums them, so the score is the same to the bit as a tree-by-tree walk's.

use super::ensemble::{Tree, TreeEnsemble, TreeNode, f32_at_or_below};

/// Leaves per tree at most.
pub const MAX_LEAVES: usize = 32;
/// Trees per block at most.
pub const BLOCK_TREES: usize = 256;

/// One block of trees.
#[derive(Debug, Clone)]
struct Block {
    /// Number of trees.
    trees: usize,
    /// `offsets[f]..offsets[f + 1]`: the nodes testing feature `f`, in `thresholds` and
    /// `actions`.
    offsets: Box<[u32]>,
    /// Node thresholds, ascending within each feature.
    thresholds: Box<[f32]>,
    /// Each node's tree within the block (high 32 bits) and bitvector mask (low 32 bits: the
    /// node's left-subtree leaves cleared), in one word so that a node costs one load.
    actions: Box<[u64]>,
    /// `nan_offsets[f]..nan_offsets[f + 1]`: the nodes of feature `f` that send NaN right, in
    /// `nan_tree_of` and `nan_masks`.
    nan_offsets: Box<[u32]>,
    nan_tree_of: Box<[u8]>,
    nan_masks: Box<[u32]>,
    /// Starting bitvector of each tree: one bit per leaf.
    start: Box<[u32]>,
    /// First leaf of each tree in `leaves`.
    leaf_base: Box<[u32]>,
}

/// An ensemble laid out for QuickScorer.
#[derive(Debug, Clone)]
pub struct QuickScorer {
    n_features: usize,
    blocks: Box<[Block]>,
    /// Leaf values of every tree, left to right, tree after tree.
    leaves: Box<[f32]>,
}

/// A branch node as QuickScorer keeps it.
struct Node {
    feature: usize,
    threshold: f32,
    tree: u8,
    mask: u32,
    missing_yes: bool,
}

/// Numbers the leaves under `node` left to right from `*next`, pushing their values, and
/// collects the branch nodes with the masks of their left subtrees. Returns the leaf range.
fn number(
    tree: &Tree,
    node: usize,
    tree_in_block: u8,
    next: &mut u32,
    leaves: &mut Vec<f32>,
    nodes: &mut Vec<Node>,
) -> (u32, u32) {
    match tree.nodes[node] {
        TreeNode::Leaf { value } => {
            leaves.push(value as f32);
            *next += 1;
            (*next - 1, *next)
        }
        TreeNode::Branch {
            feature,
            threshold,
            yes,
            no,
            missing_yes,
        } => {
            let (first, middle) = number(tree, yes as usize, tree_in_block, next, leaves, nodes);
            let (_, last) = number(tree, no as usize, tree_in_block, next, leaves, nodes);
            let left = (((1_u64 << middle) - 1) ^ ((1_u64 << first) - 1)) as u32;
            nodes.push(Node {
                feature: feature as usize,
                threshold: f32_at_or_below(threshold),
                tree: tree_in_block,
                mask: !left,
                missing_yes,
            });
            (first, last)
        }
    }
}

/// Leaves of `tree` (a tree without nodes counts as one leaf of value 0).
fn leaf_count(tree: &Tree) -> usize {
    tree.nodes
        .iter()
        .filter(|node| matches!(node, TreeNode::Leaf { .. }))
        .count()
        .max(1)
}

impl QuickScorer {
    /// The layout of `ensemble`, or `None` when a tree has more than [`MAX_LEAVES`] leaves.
    pub fn compile(ensemble: &TreeEnsemble) -> Option<QuickScorer> {
        if ensemble
            .trees
            .iter()
            .any(|tree| leaf_count(tree) > MAX_LEAVES)
        {
            return None;
        }
        let n_features = ensemble.n_features;
        let mut leaves = Vec::new();
        let mut blocks = Vec::new();
        for chunk in ensemble.trees.chunks(BLOCK_TREES) {
            let mut nodes = Vec::new();
            let (mut start, mut leaf_base) = (Vec::new(), Vec::new());
            for (index, tree) in chunk.iter().enumerate() {
                leaf_base.push(leaves.len() as u32);
                let mut next = 0;
                if tree.nodes.is_empty() {
                    leaves.push(0.0);
                    next = 1;
                } else {
                    number(tree, 0, index as u8, &mut next, &mut leaves, &mut nodes);
                }
                start.push(((1_u64 << next) - 1) as u32);
            }
            nodes.sort_by(|a, b| {
                a.feature
                    .cmp(&b.feature)
                    .then(a.threshold.total_cmp(&b.threshold))
            });
            let mut offsets = vec![0_u32; n_features + 1];
            let mut nan_offsets = vec![0_u32; n_features + 1];
            for node in &nodes {
                offsets[node.feature + 1] += 1;
                if !node.missing_yes {
                    nan_offsets[node.feature + 1] += 1;
                }
            }
            for f in 0..n_features {
                offsets[f + 1] += offsets[f];
                nan_offsets[f + 1] += nan_offsets[f];
            }
            let nan: Vec<&Node> = nodes.iter().filter(|node| !node.missing_yes).collect();
            blocks.push(Block {
                trees: chunk.len(),
                offsets: offsets.into(),
                thresholds: nodes.iter().map(|node| node.threshold).collect(),
                actions: nodes
                    .iter()
                    .map(|node| u64::from(node.tree) << 32 | u64::from(node.mask))
                    .collect(),
                nan_offsets: nan_offsets.into(),
                nan_tree_of: nan.iter().map(|node| node.tree).collect(),
                nan_masks: nan.iter().map(|node| node.mask).collect(),
                start: start.into(),
                leaf_base: leaf_base.into(),
            });
        }
        Some(QuickScorer {
            n_features,
            blocks: blocks.into(),
            leaves: leaves.into(),
        })
    }

    /// The raw score of one row; `row` must hold the model's features.
    pub fn score(&self, row: &[f32]) -> f32 {
        let row = &row[..self.n_features];
        let mut sum = 0.0_f32;
        for block in self.blocks.iter() {
            let mut reachable = [0_u32; BLOCK_TREES];
            let reachable = &mut reachable[..block.trees];
            reachable.copy_from_slice(&block.start);
            for (feature, &x) in row.iter().enumerate() {
                if x.is_nan() {
                    let (from, to) = (
                        block.nan_offsets[feature] as usize,
                        block.nan_offsets[feature + 1] as usize,
                    );
                    for (&tree, &mask) in block.nan_tree_of[from..to]
                        .iter()
                        .zip(&block.nan_masks[from..to])
                    {
                        reachable[usize::from(tree)] &= mask;
                    }
                    continue;
                }
                let (from, to) = (
                    block.offsets[feature] as usize,
                    block.offsets[feature + 1] as usize,
                );
                let thresholds = &block.thresholds[from..to];
                let actions = &block.actions[from..to];
                for (&threshold, &action) in thresholds.iter().zip(actions) {
                    if threshold >= x {
                        break;
                    }
                    let tree = (action >> 32) as usize;
                    debug_assert!(tree < reachable.len());
                    // SAFETY: `compile` stores tree indices below the block's tree count, which
                    // is the length of `reachable`.
                    unsafe { *reachable.get_unchecked_mut(tree) &= action as u32 };
                }
            }
            for (bits, &base) in reachable.iter().zip(block.leaf_base.iter()) {
                sum += self.leaves[(base + bits.trailing_zeros()) as usize];
            }
        }
        sum
    }
}
