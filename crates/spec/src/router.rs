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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_of_the_spec_is_routed() {
        let m = Manifest::get();
        assert_eq!(
            m.operations.len(),
            1263,
            "Apple's spec 4.4.1 has 1,263 operations"
        );
        let r = Router::new(m);
        for (i, op) in m.operations.iter().enumerate() {
            let concrete = op.path.replace("{id}", "some-id");
            let found = r
                .find(&concrete)
                .unwrap_or_else(|| panic!("{} not routed", op.path));
            assert_eq!(found.template, op.path);
            assert!(found.operations.contains(&i));
            assert_eq!(found.id.is_some(), op.path.contains("{id}"));
        }
        assert!(r.find("/v1/bananas").is_none());
        assert!(r.find("/v1/apps/1/nope").is_none());
    }

    #[test]
    fn literal_segments_win_over_ids() {
        let m = Manifest::get();
        let r = Router::new(m);
        // `/v1/apps/{id}/relationships/builds` must not be read as a related endpoint of an id.
        let f = r.find("/v1/apps/123/relationships/builds").unwrap();
        assert_eq!(f.template, "/v1/apps/{id}/relationships/builds");
        assert_eq!(f.id.as_deref(), Some("123"));
    }
}
