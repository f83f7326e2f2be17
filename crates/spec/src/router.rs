//! Finds the spec operations for a concrete request path: a segment trie over the path templates,
//! where `{id}` matches any one segment.

use crate::Manifest;
use std::collections::HashMap;

#[derive(Default)]
struct Node {
    literal: HashMap<String, Node>,
    param: Option<Box<Node>>,
    /// Template and indices into `Manifest::operations` when a template ends here.
    end: Option<(String, Vec<usize>)>,
}

/// Lookup of operations by path, built once from the manifest.
pub struct Router {
    root: Node,
}

/// A path that matched a template.
#[derive(Debug, Clone)]
pub struct PathMatch<'a> {
    pub template: &'a str,
    /// The `{id}` segment, percent-decoded by the caller before lookup.
    pub id: Option<String>,
    /// Indices into `Manifest::operations` of every method on this template.
    pub operations: &'a [usize],
}

impl Router {
    pub fn new(manifest: &Manifest) -> Router {
        let mut root = Node::default();
        for (i, op) in manifest.operations.iter().enumerate() {
            let mut node = &mut root;
            for seg in op.path.trim_start_matches('/').split('/') {
                node = if seg.starts_with('{') {
                    node.param.get_or_insert_with(Default::default)
                } else {
                    node.literal.entry(seg.to_string()).or_default()
                };
            }
            node.end
                .get_or_insert_with(|| (op.path.clone(), Vec::new()))
                .1
                .push(i);
        }
        Router { root }
    }

    /// Matches a concrete path (no query string). Literal segments win over `{id}`.
    pub fn find(&self, path: &str) -> Option<PathMatch<'_>> {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut id = None;
        let end = Self::walk(&self.root, &segs, &mut id)?;
        Some(PathMatch {
            template: &end.0,
            id,
            operations: &end.1,
        })
    }

    fn walk<'a>(
        node: &'a Node,
        segs: &[&str],
        id: &mut Option<String>,
    ) -> Option<&'a (String, Vec<usize>)> {
        let Some((first, rest)) = segs.split_first() else {
            return node.end.as_ref();
        };
        if first.is_empty() {
            return None;
        }
        if let Some(n) = node.literal.get(*first)
            && let Some(e) = Self::walk(n, rest, id)
        {
            return Some(e);
        }
        if let Some(n) = &node.param
            && let Some(e) = Self::walk(n, rest, id)
        {
            *id = Some((*first).to_string());
            return Some(e);
        }
        None
    }
}
