//! Per-node layers of a root tree: the overlays' `*.j2` files rendered once per node of the
//! inventory into `.netroot/nodes/NAME/` ([`NODE_LAYERS_DIR`]), which the init mounts above the
//! shared root when booted with `netroot.node=NAME`.
//!
//! Rules (documented in the README):
//! - A node's layer holds every template of the merged overlays, rendered with that node's
//!   variables (the profile's, the node's `[node.vars]` on top, and `node`), plus the
//!   directories above them with the overlays' modes and owners. Non-template files are not
//!   duplicated: nodes see them in the shared tree.
//! - The shared tree holds every template that renders with the profile's variables alone; a
//!   template using a variable only nodes define (`node`, or a node-only var) is left out of it,
//!   so a machine booting the default entry keeps the root tree's own file. Any other template
//!   error is an error; so is a template that does not render for a node (naming the node).
//! - `.netroot` is reserved: an overlay may not provide it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use netroot_boot::bootconfig::{validate_node_name, NODE_LAYERS_DIR};

use super::merge::{is_template, plan_unrendered};
use super::template::Renderer;
use super::{EntryContent, OverlayError, OverlaySpec, Ownership, Plan, PlanEntry, Source, Vars};
use crate::image::path as image_path;

/// Mode of the directories netroot adds for the layers (`.netroot`, `.netroot/nodes`, each
/// node's): readable by everyone, like the root directory they sit in.
const LAYER_DIR_MODE: u32 = 0o755;
/// What messages name as the source of the directories netroot adds.
const LAYER_SOURCE: &str = "nodes.toml";

/// One node to render for: its name and its complete template variables
/// ([`crate::nodes::Node::template_vars`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeVars {
    pub name: String,
    pub vars: Vars,
}

/// [`super::plan`] for a root tree shared by `nodes`: the shared entries plus every node's
/// layer under [`NODE_LAYERS_DIR`]. With no nodes this is exactly [`super::plan`].
pub fn plan_with_nodes(
    overlays: &[OverlaySpec],
    overrides: &BTreeMap<String, Ownership>,
    profile_vars: &Vars,
    allow_override: &[String],
    nodes: &[NodeVars],
) -> Result<Plan, OverlayError> {
    let keep_owners = rustix::process::geteuid().is_root();
    plan_with_nodes_as(
        overlays,
        overrides,
        profile_vars,
        allow_override,
        nodes,
        keep_owners,
    )
}

/// [`plan_with_nodes`] with the owner policy chosen by the caller.
pub(crate) fn plan_with_nodes_as(
    overlays: &[OverlaySpec],
    overrides: &BTreeMap<String, Ownership>,
    profile_vars: &Vars,
    allow_override: &[String],
    nodes: &[NodeVars],
    keep_owners: bool,
) -> Result<Plan, OverlayError> {
    if nodes.is_empty() {
        return super::merge::plan_with(
            overlays,
            overrides,
            profile_vars,
            allow_override,
            keep_owners,
        );
    }
    let raw = plan_unrendered(overlays, overrides, allow_override, keep_owners)?;
    let reserved = NODE_LAYERS_DIR.split('/').next().unwrap_or(NODE_LAYERS_DIR);
    if let Some(e) = raw
        .entries()
        .iter()
        .find(|e| e.path == reserved || e.path.starts_with(&format!("{reserved}/")))
    {
        return Err(OverlayError::BadPath {
            overlay: e.source.overlay.clone(),
            path: e.source.path.clone(),
            reason: format!("{reserved} is reserved for the per-node layers"),
        });
    }
    let shared = Renderer::new(profile_vars)?;
    let mut out: Vec<PlanEntry> = Vec::new();
    let mut templates: Vec<&PlanEntry> = Vec::new();
    for e in raw.entries() {
        let EntryContent::File(bytes) = &e.content else {
            out.push(e.clone());
            continue;
        };
        if !is_template(e) {
            out.push(e.clone());
            continue;
        }
        templates.push(e);
        if let Some(text) = shared.render_if_defined(&e.source.overlay, &e.source.path, bytes)? {
            out.push(PlanEntry {
                content: EntryContent::File(Arc::from(text)),
                ..e.clone()
            });
        }
    }
    let dirs: BTreeMap<&str, &PlanEntry> = raw
        .entries()
        .iter()
        .filter(|e| e.content == EntryContent::Directory)
        .map(|e| (e.path.as_str(), e))
        .collect();
    for ancestor in image_path::ancestors(NODE_LAYERS_DIR).chain([NODE_LAYERS_DIR]) {
        out.push(layer_dir(ancestor.to_string()));
    }
    let mut seen = BTreeSet::new();
    for node in nodes {
        validate_node_name(&node.name).map_err(|e| OverlayError::BadSetting {
            what: "node name",
            path: node.name.clone(),
            reason: e.to_string(),
        })?;
        if !seen.insert(node.name.as_str()) {
            return Err(OverlayError::BadSetting {
                what: "node name",
                path: node.name.clone(),
                reason: "listed twice".to_string(),
            });
        }
        out.extend(node_layer(node, &templates, &dirs)?);
    }
    out.sort_by(|a, b| image_path::sort_key(&a.path).cmp(&image_path::sort_key(&b.path)));
    Ok(Plan::from_sorted(out))
}

/// A directory netroot adds for the layers.
fn layer_dir(path: String) -> PlanEntry {
    PlanEntry {
        source: Source {
            overlay: LAYER_SOURCE.to_string(),
            path: path.clone(),
        },
        path,
        content: EntryContent::Directory,
        mode: LAYER_DIR_MODE,
        uid: 0,
        gid: 0,
    }
}

/// One node's layer: its directory, the templates rendered for it and the directories above them.
fn node_layer(
    node: &NodeVars,
    templates: &[&PlanEntry],
    dirs: &BTreeMap<&str, &PlanEntry>,
) -> Result<Vec<PlanEntry>, OverlayError> {
    let renderer = Renderer::new(&node.vars).map_err(|e| in_node(node, e))?;
    let prefix = format!("{NODE_LAYERS_DIR}/{}", node.name);
    let mut out = vec![layer_dir(prefix.clone())];
    let mut added = BTreeSet::new();
    for t in templates {
        for ancestor in image_path::ancestors(&t.path) {
            if !added.insert(ancestor) {
                continue;
            }
            // Every ancestor of a merged path is a merged directory (scan lists parents first).
            if let Some(d) = dirs.get(ancestor) {
                out.push(PlanEntry {
                    path: format!("{prefix}/{ancestor}"),
                    ..(*d).clone()
                });
            }
        }
        let EntryContent::File(bytes) = &t.content else {
            continue;
        };
        let text = renderer
            .render(&t.source.overlay, &t.source.path, bytes)
            .map_err(|e| in_node(node, e))?;
        out.push(PlanEntry {
            path: format!("{prefix}/{}", t.path),
            content: EntryContent::File(Arc::from(text)),
            ..(*t).clone()
        });
    }
    Ok(out)
}

fn in_node(node: &NodeVars, error: OverlayError) -> OverlayError {
    OverlayError::Node {
        node: node.name.clone(),
        error: Box::new(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::Path;

    fn table(text: &str) -> Vars {
        let t: toml::Table = toml::from_str(text).unwrap();
        t.into_iter().collect()
    }

    /// Node vars as `Node::template_vars` builds them: profile, node's own, then `node`.
    fn node(name: &str, own: &str, profile: &Vars) -> NodeVars {
        let mut vars = profile.clone();
        vars.extend(table(own));
        vars.insert(
            "node".into(),
            toml::Value::Table(toml::from_str(&format!("name = \"{name}\"")).unwrap()),
        );
        NodeVars {
            name: name.to_string(),
            vars,
        }
    }

    fn overlay(root: &Path, files: &[(&str, &str)]) -> OverlaySpec {
        for (path, text) in files {
            let p = root.join("base").join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        OverlaySpec {
            name: "base".into(),
            dir: root.join("base"),
            owner: None,
        }
    }

    fn files(plan: &Plan) -> Vec<(String, String)> {
        plan.entries()
            .iter()
            .filter_map(|e| match &e.content {
                EntryContent::File(b) => {
                    Some((e.path.clone(), String::from_utf8(b.to_vec()).unwrap()))
                }
                _ => None,
            })
            .collect()
    }

    fn plan(spec: &OverlaySpec, profile: &Vars, nodes: &[NodeVars]) -> Result<Plan, OverlayError> {
        plan_with_nodes_as(
            std::slice::from_ref(spec),
            &BTreeMap::new(),
            profile,
            &[],
            nodes,
            false,
        )
    }

    #[test]
    fn each_node_gets_its_own_rendering_and_node_vars_shadow_profile_vars() {
        let t = tempfile::tempdir().unwrap();
        let spec = overlay(
            t.path(),
            &[
                ("etc/hostname.j2", "{{ node.name }}\n"),
                ("etc/rack.j2", "{{ rack }}\n"),
                ("etc/motd", "plain\n"),
            ],
        );
        let profile = table("rack = \"default\"");
        let nodes = [
            node("c001", "rack = \"r1\"", &profile),
            node("c002", "", &profile),
        ];
        let p = plan(&spec, &profile, &nodes).unwrap();
        assert_eq!(
            files(&p),
            [
                (
                    ".netroot/nodes/c001/etc/hostname".to_string(),
                    "c001\n".to_string()
                ),
                (".netroot/nodes/c001/etc/rack".into(), "r1\n".into()),
                (".netroot/nodes/c002/etc/hostname".into(), "c002\n".into()),
                (".netroot/nodes/c002/etc/rack".into(), "default\n".into()),
                ("etc/motd".into(), "plain\n".into()),
                ("etc/rack".into(), "default\n".into()),
            ]
        );
        let dirs: Vec<&str> = p
            .entries()
            .iter()
            .filter(|e| e.content == EntryContent::Directory)
            .map(|e| e.path.as_str())
            .collect();
        assert_eq!(
            dirs,
            [
                ".netroot",
                ".netroot/nodes",
                ".netroot/nodes/c001",
                ".netroot/nodes/c001/etc",
                ".netroot/nodes/c002",
                ".netroot/nodes/c002/etc",
                "etc",
            ]
        );
        // The node's copy of a directory has the overlay's mode and owner.
        let etc = p.get("etc").unwrap();
        let node_etc = p.get(".netroot/nodes/c001/etc").unwrap();
        assert_eq!((node_etc.mode, node_etc.uid), (etc.mode, etc.uid));
        assert_eq!(p.get(".netroot/nodes/c001").unwrap().mode, LAYER_DIR_MODE);
    }

    #[test]
    fn without_nodes_the_plan_is_the_plain_one() {
        let t = tempfile::tempdir().unwrap();
        let spec = overlay(t.path(), &[("etc/rack.j2", "{{ rack }}")]);
        let profile = table("rack = \"r9\"");
        let p = plan(&spec, &profile, &[]).unwrap();
        let plain = super::super::merge::plan_with(&[spec], &BTreeMap::new(), &profile, &[], false)
            .unwrap();
        assert_eq!(p, plain);
        let err = plan(
            &overlay(t.path(), &[("etc/host.j2", "{{ node.name }}")]),
            &profile,
            &[],
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "overlay \"base\": etc/host.j2:1:4: undefined value: `node` is undefined"
        );
    }

    #[test]
    fn a_template_error_names_the_node_overlay_file_and_line() {
        let t = tempfile::tempdir().unwrap();
        let spec = overlay(t.path(), &[("etc/rack.j2", "# rack\n{{ rack }}\n")]);
        let profile = Vars::new();
        let nodes = [
            node("c001", "rack = \"r1\"", &profile),
            node("c002", "", &profile),
        ];
        let err = plan(&spec, &profile, &nodes).unwrap_err().to_string();
        assert_eq!(
            err,
            "node \"c002\": overlay \"base\": etc/rack.j2:2:4: undefined value: `rack` is undefined"
        );
        // A syntax error is an error even for the shared tree.
        let spec = overlay(t.path(), &[("etc/bad.j2", "{{ rack ")]);
        let err = plan(&spec, &profile, &nodes).unwrap_err().to_string();
        assert!(err.starts_with("overlay \"base\": etc/bad.j2:1"), "{err}");
    }

    #[test]
    fn reserved_directory_and_bad_node_names_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let spec = overlay(t.path(), &[(".netroot/x", "x")]);
        let profile = Vars::new();
        let err = plan(&spec, &profile, &[node("c001", "", &profile)])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "overlay \"base\": .netroot: .netroot is reserved for the per-node layers"
        );
        let t = tempfile::tempdir().unwrap();
        let spec = overlay(t.path(), &[("etc/x.j2", "x")]);
        let err = plan(&spec, &profile, &[node("..", "", &profile)])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("node name \"..\": invalid node name"),
            "{err}"
        );
        let twice = [node("c1", "", &profile), node("c1", "", &profile)];
        let err = plan(&spec, &profile, &twice).unwrap_err().to_string();
        assert_eq!(err, "node name \"c1\": listed twice");
    }
}
