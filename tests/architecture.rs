//! The shape of `src/`, checked: layers that only import from the layers below them, no import
//! cycle between modules, and a library that knows nothing of the command line. ARCHITECTURE.md
//! explains the layers; this test keeps them true.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every top-level module of the library and the binary, with its layer: a module may import
/// from its own layer and the layers below, never from above.
const LAYERS: &[(&str, usize)] = &[
    ("stats", 0),
    ("portfolio_math", 0),
    ("files", 0),
    ("progress", 0),
    ("data", 1),
    ("features", 2),
    ("env", 3),
    ("backtest", 4),
    ("metrics", 4),
    ("agent", 5),
    ("baselines", 5),
    ("train", 6),
    ("eval", 7),
    ("registry", 7),
    ("tax", 7),
    ("report", 8),
    ("cli", 9),
];

/// Crates that belong to the command line: the library reports progress through a trait and
/// takes typed values, so it never needs them.
const CLI_ONLY_CRATES: &[&str] = &["clap", "indicatif"];

struct Module {
    /// `env::costs`; the crate root is `""`.
    path: String,
    file: PathBuf,
    /// Module paths named in the file (`crate::a::b::Item`, `super::x`), unresolved.
    references: Vec<Vec<String>>,
    source: String,
}

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn modules() -> Vec<Module> {
    let root = source_root();
    let mut files = Vec::new();
    collect_rust_files(&root, &mut files);
    files
        .into_iter()
        .map(|file| {
            let relative = file.strip_prefix(&root).expect("under src").with_extension("");
            let mut parts: Vec<String> =
                relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            let is_folder_root = matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main"));
            if is_folder_root {
                parts.pop();
            }
            let source = strip_comments_and_strings(&std::fs::read_to_string(&file).expect("readable"));
            let path = parts.join("::");
            // `super` in `a/b.rs` is `a`; in `a/b/mod.rs` it is also `a`.
            let parent: Vec<String> = parts.iter().take(parts.len().saturating_sub(1)).cloned().collect();
            let mut references = paths_after(&source, "crate::", &[]);
            references.extend(paths_after(&source, "super::", &parent));
            if path.starts_with("cli") || path.is_empty() && file.ends_with("main.rs") {
                references.extend(paths_after(&source, "folio::", &[]));
            }
            Module { path, file, references, source }
        })
        .collect()
}

fn collect_rust_files(folder: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(folder).expect("readable folder").map(|e| e.expect("entry").path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments and the contents of string and char literals, so that doc links
/// and messages are not read as imports or braces. Newlines stay, so line numbers still hold.
fn strip_comments_and_strings(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    // Skips `bytes[from..to]`, keeping its newlines.
    let keep_newlines = |out: &mut String, from: usize, to: usize| {
        out.extend(bytes[from..to.min(bytes.len())].iter().filter(|&&b| b == b'\n').map(|_| '\n'))
    };
    while i < bytes.len() {
        let start = i;
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
                keep_newlines(&mut out, start, i);
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
                keep_newlines(&mut out, start, i);
            }
            b'\'' if bytes.get(i + 2) == Some(&b'\'') || bytes.get(i + 1) == Some(&b'\\') => {
                // A char literal ('x' or '\n'); lifetimes have no closing quote.
                i += 1;
                while i < bytes.len() && bytes[i] != b'\'' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("' '");
            }
            _ => {
                let c = source[i..].chars().next().expect("a char");
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

/// Every path that follows `prefix` in `source`, with use-groups (`a::{b, c::d}`) expanded, each
/// prepended with `base`.
fn paths_after(source: &str, prefix: &str, base: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut start = 0;
    while let Some(found) = source[start..].find(prefix) {
        let at = start + found;
        let preceded_by_ident =
            source[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
        start = at + prefix.len();
        if preceded_by_ident {
            continue;
        }
        let mut cursor = start;
        parse_tree(source, &mut cursor, base.to_vec(), &mut out);
    }
    out
}

/// Parses `ident::ident::{tree, tree}` from `cursor`, pushing each full path.
fn parse_tree(source: &str, cursor: &mut usize, mut path: Vec<String>, out: &mut Vec<Vec<String>>) {
    loop {
        skip_space(source, cursor);
        if source[*cursor..].starts_with('{') {
            *cursor += 1;
            loop {
                skip_space(source, cursor);
                if source[*cursor..].starts_with('}') {
                    *cursor += 1;
                    return;
                }
                parse_tree(source, cursor, path.clone(), out);
                skip_space(source, cursor);
                if source[*cursor..].starts_with(',') {
                    *cursor += 1;
                } else if source[*cursor..].starts_with('}') {
                    *cursor += 1;
                    return;
                } else {
                    return;
                }
            }
        }
        let ident: String =
            source[*cursor..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if ident.is_empty() {
            out.push(path);
            return;
        }
        *cursor += ident.len();
        if ident != "self" {
            path.push(ident);
        }
        if source[*cursor..].starts_with("::") {
            *cursor += 2;
        } else {
            out.push(path);
            return;
        }
    }
}

fn skip_space(source: &str, cursor: &mut usize) {
    while source[*cursor..].starts_with(|c: char| c.is_whitespace()) {
        *cursor += 1;
    }
}

/// The module a path lands in: its longest prefix that is a module.
fn resolve<'a>(path: &[String], known: &'a BTreeSet<String>) -> Option<&'a String> {
    (1..=path.len()).rev().find_map(|n| known.get(&path[..n].join("::")))
}

fn top(path: &str) -> &str {
    path.split("::").next().unwrap_or(path)
}

fn nested(a: &str, b: &str) -> bool {
    a == b || a.starts_with(&format!("{b}::")) || b.starts_with(&format!("{a}::"))
}

/// Module -> the modules it imports from, leaving out its own ancestors and descendants (a
/// folder re-exports its children, and children use those re-exports).
fn import_graph(modules: &[Module]) -> BTreeMap<String, BTreeSet<String>> {
    let known: BTreeSet<String> = modules.iter().map(|m| m.path.clone()).collect();
    modules
        .iter()
        .map(|m| {
            let targets = m
                .references
                .iter()
                .filter_map(|p| resolve(p, &known))
                .filter(|t| !nested(&m.path, t))
                .cloned()
                .collect();
            (m.path.clone(), targets)
        })
        .collect()
}

#[test]
fn every_top_level_module_has_a_layer() {
    let layers: BTreeMap<&str, usize> = LAYERS.iter().copied().collect();
    let tops: BTreeSet<String> =
        modules().iter().filter(|m| !m.path.is_empty()).map(|m| top(&m.path).to_string()).collect();
    let missing: Vec<&String> = tops.iter().filter(|t| !layers.contains_key(t.as_str())).collect();
    assert!(
        missing.is_empty(),
        "modules without a layer in LAYERS (add them, and to ARCHITECTURE.md): {missing:?}"
    );
}

#[test]
fn no_module_imports_from_a_layer_above_its_own() {
    let layers: BTreeMap<&str, usize> = LAYERS.iter().copied().collect();
    let modules = modules();
    let mut upward = Vec::new();
    for (from, targets) in import_graph(&modules) {
        let Some(&own) = layers.get(top(&from)) else { continue };
        for to in targets {
            let theirs = layers.get(top(&to)).copied().unwrap_or(0);
            if theirs > own {
                upward.push(format!("{from} (layer {own}) imports {to} (layer {theirs})"));
            }
        }
    }
    assert!(upward.is_empty(), "upward imports:\n{}", upward.join("\n"));
}

#[test]
fn no_import_cycles_between_modules() {
    let graph = import_graph(&modules());
    let cycles = strongly_connected(&graph).into_iter().filter(|c| c.len() > 1).collect::<Vec<_>>();
    assert!(cycles.is_empty(), "modules that import each other, directly or around a loop: {cycles:?}");
}

#[test]
fn the_library_does_not_depend_on_the_command_line() {
    let mut offenders = Vec::new();
    for module in modules().iter().filter(|m| !m.path.starts_with("cli") && !m.path.is_empty()) {
        for krate in CLI_ONLY_CRATES {
            let used = paths_after(&module.source, &format!("{krate}::"), &[]);
            if !used.is_empty() {
                offenders.push(format!("{} uses {krate}", module.file.display()));
            }
        }
    }
    assert!(offenders.is_empty(), "library modules that use command-line crates:\n{}", offenders.join("\n"));
}

/// nalgebra is in the build because statrs pulls it in, and folio uses it only where ndarray
/// lacks solves without LAPACK: the portfolio mathematics (shrinkage, long-only QPs) and the
/// baselines built on it. Elsewhere a second matrix type would mean conversions at every boundary
/// between modules.
#[test]
fn nalgebra_stays_in_the_portfolio_mathematics_and_the_baselines() {
    let offenders: Vec<String> = modules()
        .iter()
        .filter(|m| !m.path.starts_with("baselines") && !m.path.starts_with("portfolio_math"))
        .filter(|m| !paths_after(&m.source, "nalgebra::", &[]).is_empty())
        .map(|m| m.file.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "modules outside src/portfolio_math/ and src/baselines/ that use nalgebra:\n{}",
        offenders.join("\n")
    );
}

/// Functions whose bodies run past [`MAX_FUNCTION_LINES`], with their length: outside test
/// modules (tests may be long tables of cases), counted from the `fn` line to its closing brace.
fn long_functions(module: &Module) -> Vec<(String, usize, usize)> {
    let source = match module.source.find("#[cfg(test)]") {
        Some(tests) => &module.source[..tests],
        None => &module.source[..],
    };
    let lines: Vec<&str> = source.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(name) = function_name(lines[i]) else {
            i += 1;
            continue;
        };
        let (mut depth, mut opened, mut end) = (0i64, false, None);
        for (j, line) in lines.iter().enumerate().skip(i) {
            if !opened && line.trim_end().ends_with(';') {
                break; // a declaration without a body
            }
            for c in line.chars() {
                match c {
                    '{' => (depth, opened) = (depth + 1, true),
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if opened && depth == 0 {
                end = Some(j);
                break;
            }
        }
        match end {
            Some(end) => {
                let length = end - i + 1;
                if length > MAX_FUNCTION_LINES {
                    found.push((name, i + 1, length));
                }
                i = end + 1;
            }
            None => i += 1,
        }
    }
    found
}

fn function_name(line: &str) -> Option<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "fn")?;
    let qualifiers_only = words[..at]
        .iter()
        .all(|w| matches!(*w, "pub" | "const" | "async" | "unsafe" | "extern") || w.starts_with("pub("));
    let name: String = words.get(at + 1)?.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    (qualifiers_only && !name.is_empty()).then_some(name)
}

/// A function a reader can hold in their head: longer ones are split into named steps.
const MAX_FUNCTION_LINES: usize = 80;

#[test]
fn no_function_runs_past_eighty_lines() {
    let mut long = Vec::new();
    let root = source_root();
    for module in modules() {
        let file = module.file.strip_prefix(&root).expect("under src").display().to_string();
        for (name, line, length) in long_functions(&module) {
            long.push(format!("{file}:{line} {name}: {length} lines"));
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines (split them into named steps):\n{}",
        long.join("\n")
    );
}

/// The error type of every `Result<T, E>` in `source`, as written.
fn result_error_types(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("Result<") {
        rest = &rest[at + "Result<".len()..];
        let (mut depth, mut last_comma, mut end) = (1, None, None);
        for (i, c) in rest.char_indices() {
            match c {
                '<' | '(' | '[' => depth += 1,
                '>' | ')' | ']' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(i);
                        break;
                    }
                }
                ',' if depth == 1 => last_comma = Some(i),
                _ => {}
            }
        }
        if let (Some(comma), Some(end)) = (last_comma, end) {
            found.push(rest[comma + 1..end].trim().to_string());
        }
    }
    found
}

#[test]
fn library_errors_are_types_not_strings() {
    let mut stringly = Vec::new();
    for module in modules().iter().filter(|m| !m.path.starts_with("cli") && !m.path.is_empty()) {
        let source = module.source.split("#[cfg(test)]").next().unwrap_or_default();
        if result_error_types(source).iter().any(|e| e == "String") {
            stringly.push(module.file.display().to_string());
        }
    }
    assert!(
        stringly.is_empty(),
        "library modules returning Result<_, String> (use a thiserror type):\n{}",
        stringly.join("\n")
    );
    assert_eq!(result_error_types("fn f() -> Result<Vec<(u8, u8)>, String> {}"), ["String"]);
    assert_eq!(result_error_types("fn f() -> Result<(), Box<dyn Error>>"), ["Box<dyn Error>"]);
}

/// Tarjan's algorithm: the strongly connected components of `graph`.
fn strongly_connected(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        components: Vec<Vec<String>>,
    }
    fn visit<'g>(state: &mut State<'g>, node: &'g str) {
        let next = state.index.len();
        state.index.insert(node, next);
        state.low.insert(node, next);
        state.stack.push(node);
        state.on_stack.insert(node);
        for target in state.graph.get(node).into_iter().flatten() {
            let target = target.as_str();
            if !state.index.contains_key(target) {
                visit(state, target);
                let low = state.low[node].min(state.low[target]);
                state.low.insert(node, low);
            } else if state.on_stack.contains(target) {
                let low = state.low[node].min(state.index[target]);
                state.low.insert(node, low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(member) = state.stack.pop() {
                state.on_stack.remove(member);
                component.push(member.to_string());
                if member == node {
                    break;
                }
            }
            component.sort();
            state.components.push(component);
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for node in graph.keys() {
        if !state.index.contains_key(node.as_str()) {
            visit(&mut state, node);
        }
    }
    state.components
}

/// The checker itself: an upward import and a cycle planted in sources are found.
#[test]
fn the_checks_find_what_they_look_for() {
    let source = strip_comments_and_strings(
        "use crate::env::{Market, config::{EnvConfig, Span}};\n// use crate::cli::x;\nlet s = \"crate::report\";\nfn f() { crate::train::step::go(); }",
    );
    let paths: Vec<String> = paths_after(&source, "crate::", &[]).iter().map(|p| p.join("::")).collect();
    assert_eq!(paths, ["env::Market", "env::config::EnvConfig", "env::config::Span", "train::step::go"]);

    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["c".to_string()])),
        ("c".to_string(), BTreeSet::from(["a".to_string()])),
        ("d".to_string(), BTreeSet::from(["a".to_string()])),
    ]
    .into_iter()
    .collect();
    let cycles: Vec<Vec<String>> = strongly_connected(&graph).into_iter().filter(|c| c.len() > 1).collect();
    assert_eq!(cycles, vec![vec!["a".to_string(), "b".to_string(), "c".to_string()]]);
    assert!(nested("env", "env::costs") && !nested("env", "envelope"));

    let body: String = (0..85).map(|i| format!("    let x{i} = {i};\n")).collect();
    let module = Module {
        path: "x".into(),
        file: "x.rs".into(),
        references: Vec::new(),
        source: strip_comments_and_strings(&format!(
            "pub fn short() {{ \"{{\"; }}\nfn declared();\npub(crate) fn long() {{\n{body}}}\n#[cfg(test)]\nfn in_tests() {{\n{body}}}\n"
        )),
    };
    assert_eq!(long_functions(&module), vec![("long".to_string(), 3, 87)]);
}
