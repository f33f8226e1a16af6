//! The native evaluator: the trees of a model laid out flat for one-row scoring without
//! allocation, computing what ONNX Runtime computes for the same file (f32 comparisons against
//! the stored f32 thresholds, an f32 sum in tree order, ORT's logistic).
//!
//! Models whose trees have at most 32 leaves (LightGBM's default is 31) are scored by
//! QuickScorer ([`super::quickscorer`]); others by the tree walk below, which gives the same
//! scores to the bit.
//!
//! In the walk every node is 16 bytes: threshold, feature index, and the two children, where a child with
//! the top bit set is a leaf (its value in a separate array). Eight trees are walked together,
//! one step each per round, so their independent loads overlap instead of waiting on each
//! other; each step is a branch-free select.

use super::ensemble::{TreeEnsemble, TreeNode, logistic};
use super::quickscorer::QuickScorer;

const LEAF: u32 = 1 << 31;
/// Trees walked together.
const LANES: usize = 8;

#[derive(Debug, Clone, Copy, Default)]
#[repr(C, align(16))]
struct FlatNode {
    threshold: f32,
    /// Feature index; the top bit set means NaN goes to `yes`.
    feature: u32,
    yes: u32,
    no: u32,
}

const MISSING_YES: u32 = 1 << 31;

/// A model compiled for the native evaluator.
#[derive(Debug, Clone)]
pub struct NativeModel {
    n_features: usize,
    /// The QuickScorer layout, for ensembles whose trees have at most 32 leaves.
    quick: Option<QuickScorer>,
    nodes: Box<[FlatNode]>,
    /// Root of each tree: a node index, or a leaf (top bit) for a single-leaf tree.
    roots: Box<[u32]>,
    leaves: Box<[f32]>,
}

impl NativeModel {
    /// Compiles an ensemble (thresholds rounded down to f32, as the ONNX writer stores them).
    pub fn compile(ensemble: &TreeEnsemble) -> NativeModel {
        let mut nodes = Vec::new();
        let mut leaves = Vec::new();
        let mut roots = Vec::with_capacity(ensemble.trees.len());
        for tree in &ensemble.trees {
            // Map each node of the tree to a flat index (branches) or a leaf index.
            let mut slots = Vec::with_capacity(tree.nodes.len());
            for node in &tree.nodes {
                slots.push(match node {
                    TreeNode::Branch { .. } => {
                        nodes.push(FlatNode::default());
                        (nodes.len() - 1) as u32
                    }
                    TreeNode::Leaf { value } => {
                        leaves.push(*value as f32);
                        (leaves.len() - 1) as u32 | LEAF
                    }
                });
            }
            for (node, &slot) in tree.nodes.iter().zip(&slots) {
                if let TreeNode::Branch {
                    feature,
                    threshold,
                    yes,
                    no,
                    missing_yes,
                } = *node
                {
                    nodes[slot as usize] = FlatNode {
                        threshold: super::ensemble::f32_at_or_below(threshold),
                        feature: feature | if missing_yes { MISSING_YES } else { 0 },
                        yes: slots[yes as usize],
                        no: slots[no as usize],
                    };
                }
            }
            roots.push(slots.first().copied().unwrap_or(LEAF));
        }
        if leaves.is_empty() {
            leaves.push(0.0);
        }
        NativeModel {
            n_features: ensemble.n_features,
            quick: QuickScorer::compile(ensemble),
            nodes: nodes.into_boxed_slice(),
            roots: roots.into_boxed_slice(),
            leaves: leaves.into_boxed_slice(),
        }
    }

    /// Number of input features.
    pub const fn n_features(&self) -> usize {
        self.n_features
    }

    /// The raw score (sum of leaves) of one row; `row` must hold [`Self::n_features`] values.
    pub fn score(&self, row: &[f32]) -> f32 {
        match &self.quick {
            Some(quick) => quick.score(row),
            None => self.walk(row),
        }
    }

    /// The raw score by walking the trees, eight at a time (any number of leaves).
    pub fn walk(&self, row: &[f32]) -> f32 {
        let row = &row[..self.n_features];
        let mut sum = 0.0_f32;
        let mut chunks = self.roots.chunks_exact(LANES);
        for chunk in &mut chunks {
            let mut at: [u32; LANES] = [0; LANES];
            at.copy_from_slice(chunk);
            // Walk the eight trees until all reach a leaf.
            while at.iter().any(|&index| index & LEAF == 0) {
                for index in &mut at {
                    if *index & LEAF == 0 {
                        *index = self.step(*index, row);
                    }
                }
            }
            for index in at {
                sum += self.leaves[(index & !LEAF) as usize];
            }
        }
        for &root in chunks.remainder() {
            let mut index = root;
            while index & LEAF == 0 {
                index = self.step(index, row);
            }
            sum += self.leaves[(index & !LEAF) as usize];
        }
        sum
    }

    /// One comparison: the child of `index` that `row` goes to.
    #[inline(always)]
    fn step(&self, index: u32, row: &[f32]) -> u32 {
        let node = self.nodes[index as usize];
        let x = row[(node.feature & !MISSING_YES) as usize];
        let go_yes = if x.is_nan() {
            node.feature & MISSING_YES != 0
        } else {
            x <= node.threshold
        };
        if go_yes { node.yes } else { node.no }
    }

    /// The probability of class 1 for one row.
    pub fn predict(&self, row: &[f32]) -> f32 {
        logistic(self.score(row))
    }
}
