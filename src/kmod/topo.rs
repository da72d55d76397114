//! Deterministic topological sort of the module graph into a load order, with cycle reporting.

use std::collections::{BTreeMap, BTreeSet};

use super::error::KmodError;

/// Sorts `nodes` so that for every edge `(before, after)` `before` comes first; among modules that
/// are free to load, the smallest name goes first (Kahn's algorithm over a sorted ready set).
/// Edges naming nodes outside `nodes` are ignored.
pub fn topo_sort(
    nodes: &BTreeSet<String>,
    edges: &BTreeSet<(String, String)>,
) -> Result<Vec<String>, KmodError> {
    let mut indegree: BTreeMap<&str, usize> = nodes.iter().map(|n| (n.as_str(), 0)).collect();
    let mut successors: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (before, after) in edges {
        if before == after || !nodes.contains(before) || !nodes.contains(after) {
            continue;
        }
        successors.entry(before).or_default().push(after);
        if let Some(d) = indegree.get_mut(after.as_str()) {
            *d += 1;
        }
    }
    let mut ready: BTreeSet<&str> = indegree
        .iter()
        .filter(|(_, d)| **d == 0)
        .map(|(n, _)| *n)
        .collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(next) = ready.pop_first() {
        order.push(next.to_owned());
        for after in successors.get(next).into_iter().flatten() {
            if let Some(d) = indegree.get_mut(after) {
                *d -= 1;
                if *d == 0 {
                    ready.insert(after);
                }
            }
        }
        indegree.remove(next);
    }
    if indegree.is_empty() {
        return Ok(order);
    }
    Err(KmodError::Cycle {
        cycle: find_cycle(&indegree, edges),
    })
}

/// Describes one cycle among the `remaining` nodes (all of which have unmet predecessors), as
/// `a -> b -> a` where each arrow reads "needs loaded before it".
fn find_cycle(remaining: &BTreeMap<&str, usize>, edges: &BTreeSet<(String, String)>) -> String {
    let mut predecessors: BTreeMap<&str, &str> = BTreeMap::new();
    for (before, after) in edges {
        if before != after && remaining.contains_key(before.as_str()) {
            // Edges are sorted, so the smallest predecessor is kept: deterministic.
            predecessors
                .entry(after.as_str())
                .or_insert(before.as_str());
        }
    }
    let Some(start) = remaining.keys().next() else {
        return String::new();
    };
    let mut path: Vec<&str> = vec![start];
    let mut current = *start;
    while let Some(pred) = predecessors.get(current) {
        if let Some(pos) = path.iter().position(|n| n == pred) {
            let mut cycle: Vec<&str> = path.split_off(pos);
            cycle.push(pred);
            return cycle.join(" -> ");
        }
        path.push(pred);
        current = pred;
    }
    path.join(" -> ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn edges(pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn deps_first_ties_by_name() {
        let nodes = set(&["nfsv4", "nfs", "sunrpc", "lockd", "grace", "dns_resolver"]);
        let e = edges(&[
            ("sunrpc", "nfsv4"),
            ("nfs", "nfsv4"),
            ("dns_resolver", "nfsv4"),
            ("sunrpc", "nfs"),
            ("lockd", "nfs"),
            ("sunrpc", "lockd"),
            ("grace", "lockd"),
        ]);
        assert_eq!(
            topo_sort(&nodes, &e).unwrap(),
            ["dns_resolver", "grace", "sunrpc", "lockd", "nfs", "nfsv4"]
        );
    }

    #[test]
    fn self_and_foreign_edges_are_ignored() {
        let nodes = set(&["b", "a"]);
        let e = edges(&[("a", "a"), ("zzz", "a")]);
        assert_eq!(topo_sort(&nodes, &e).unwrap(), ["a", "b"]);
    }

    #[test]
    fn cycle_is_named() {
        let nodes = set(&["a", "b", "c", "d"]);
        // d needs c, c needs b, b needs c: a cycle b/c with d hanging off it.
        let e = edges(&[("c", "d"), ("b", "c"), ("c", "b"), ("a", "b")]);
        let err = topo_sort(&nodes, &e).unwrap_err();
        assert_eq!(err.to_string(), "module dependency cycle: b -> c -> b");
    }
}
