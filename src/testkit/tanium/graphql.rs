//! Just enough GraphQL execution for the simulator: parse the document (cynic-parser), resolve
//! arguments and variables to JSON, and project resolved objects onto the selection (aliases,
//! inline fragments, named fragments, `__typename`). Selecting a field the simulator's types do
//! not have is an error, as on a real Gateway.

use cynic_parser::ExecutableDocument;
use cynic_parser::Value as GqlValue;
use cynic_parser::executable::{OperationDefinition, Selection};
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::fleet::SimEndpoint;

/// One selected field, owned.
#[derive(Clone, Debug)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) alias: Option<String>,
    pub(crate) args: Map<String, Value>,
    pub(crate) children: Vec<Node>,
}

impl Field {
    pub(crate) fn key(&self) -> &str {
        self.alias.as_deref().unwrap_or(&self.name)
    }
}

/// A selection: a field, or a fragment (inline or spread) with its type condition.
#[derive(Clone, Debug)]
pub(crate) enum Node {
    Field(Field),
    Fragment(Option<String>, Vec<Node>),
}

/// A request's operation, converted.
#[derive(Clone, Debug)]
pub(crate) struct Operation {
    pub(crate) name: Option<String>,
    pub(crate) fields: Vec<Field>,
}

/// Parses `query` and picks the operation (by name when several), resolving variables.
pub(crate) fn parse(
    query: &str,
    operation_name: Option<&str>,
    variables: &Map<String, Value>,
) -> Result<Operation, String> {
    let doc =
        cynic_parser::parse_executable_document(query).map_err(|e| format!("Syntax Error: {e}"))?;
    let op = pick_operation(&doc, operation_name)?;
    if op.operation_type() != cynic_parser::common::OperationType::Query {
        return Err("the simulator only serves queries".into());
    }
    let mut vars = Map::new();
    for def in op.variable_definitions() {
        let value = match variables.get(def.name()) {
            Some(v) => v.clone(),
            None => def
                .default_value()
                .map(|d| value_json(&GqlValue::from(d), &Map::new()))
                .unwrap_or(Value::Null),
        };
        vars.insert(def.name().to_owned(), value);
    }
    let nodes = convert(&doc, op.selection_set(), &vars, 0)?;
    let mut fields = Vec::new();
    flatten_root(nodes, &mut fields);
    Ok(Operation {
        name: op.name().map(str::to_owned),
        fields,
    })
}

fn pick_operation<'a>(
    doc: &'a ExecutableDocument,
    name: Option<&str>,
) -> Result<OperationDefinition<'a>, String> {
    let ops: Vec<OperationDefinition<'a>> = doc.operations().collect();
    match name {
        Some(n) => ops
            .into_iter()
            .find(|o| o.name() == Some(n))
            .ok_or_else(|| format!("Unknown operation named \"{n}\".")),
        None if ops.len() == 1 => Ok(ops[0]),
        None => Err("Must provide operation name if query contains multiple operations.".into()),
    }
}

fn flatten_root(nodes: Vec<Node>, out: &mut Vec<Field>) {
    for n in nodes {
        match n {
            Node::Field(f) => out.push(f),
            Node::Fragment(_, children) => flatten_root(children, out),
        }
    }
}

fn convert<'a>(
    doc: &'a ExecutableDocument,
    selections: impl Iterator<Item = Selection<'a>>,
    vars: &Map<String, Value>,
    depth: usize,
) -> Result<Vec<Node>, String> {
    if depth > 32 {
        return Err("the query is nested too deeply".into());
    }
    let mut out = Vec::new();
    for s in selections {
        match s {
            Selection::Field(f) => {
                let mut args = Map::new();
                for a in f.arguments() {
                    args.insert(a.name().to_owned(), value_json(&a.value(), vars));
                }
                out.push(Node::Field(Field {
                    name: f.name().to_owned(),
                    alias: f.alias().map(str::to_owned),
                    args,
                    children: convert(doc, f.selection_set(), vars, depth + 1)?,
                }));
            }
            Selection::InlineFragment(i) => out.push(Node::Fragment(
                i.type_condition().map(str::to_owned),
                convert(doc, i.selection_set(), vars, depth + 1)?,
            )),
            Selection::FragmentSpread(spread) => {
                let name = spread.fragment_name();
                let fragment = doc
                    .fragments()
                    .find(|f| f.name() == name)
                    .ok_or_else(|| format!("Unknown fragment \"{name}\"."))?;
                out.push(Node::Fragment(
                    Some(fragment.type_condition().to_owned()),
                    convert(doc, fragment.selection_set(), vars, depth + 1)?,
                ));
            }
        }
    }
    Ok(out)
}

fn value_json(v: &GqlValue<'_>, vars: &Map<String, Value>) -> Value {
    match v {
        GqlValue::Variable(var) => vars.get(var.name()).cloned().unwrap_or(Value::Null),
        GqlValue::Int(i) => Value::from(i.as_i64()),
        GqlValue::Float(f) => {
            serde_json::Number::from_f64(f.as_f64()).map_or(Value::Null, Value::Number)
        }
        GqlValue::String(s) => Value::String(s.as_str().to_owned()),
        GqlValue::Boolean(b) => Value::Bool(b.as_bool()),
        GqlValue::Null(_) => Value::Null,
        GqlValue::Enum(e) => Value::String(e.as_str().to_owned()),
        GqlValue::List(l) => Value::Array(l.items().map(|i| value_json(&i, vars)).collect()),
        GqlValue::Object(o) => Value::Object(
            o.fields()
                .map(|f| (f.name().to_owned(), value_json(&f.value(), vars)))
                .collect(),
        ),
    }
}

/// Whether any field named `name` is selected anywhere below `nodes`.
pub(crate) fn selects(nodes: &[Node], name: &str) -> bool {
    nodes.iter().any(|n| match n {
        Node::Field(f) => f.name == name || selects(&f.children, name),
        Node::Fragment(_, children) => selects(children, name),
    })
}

/// Writes a resolved value projected onto a selection as JSON into `out`, without building
/// the projected tree (the simulator serves 100k-endpoint fleets). Objects carry their type in
/// `__typename`; a field selected twice is written once.
pub(crate) fn write_projection(
    value: &Value,
    nodes: &[Node],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    write_with_refs(value, nodes, out, &[], None)
}

/// Rendered endpoints for one selection shape, keyed by the record's address. Holding the
/// `Arc` keeps that address from being reused by another record, so the key is an exact
/// identity: a changed endpoint is a new `Arc` (records are never mutated in place) and misses.
pub(crate) type Rendered = HashMap<usize, (Arc<SimEndpoint>, Vec<u8>)>;

/// Like [`write_projection`], where an object `{"__ref": i}` stands for endpoint `refs[i]`,
/// written straight from the record, or copied from `cache` when it was rendered before for
/// the same selection (every page of an unchanged sync re-serves the same records).
pub(crate) fn write_with_refs(
    value: &Value,
    nodes: &[Node],
    out: &mut Vec<u8>,
    refs: &[Arc<SimEndpoint>],
    mut cache: Option<&mut Rendered>,
) -> Result<(), String> {
    match value {
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_with_refs(item, nodes, out, refs, cache.as_deref_mut())?;
            }
            out.push(b']');
            Ok(())
        }
        Value::Object(obj) if !nodes.is_empty() => {
            if let Some(e) = obj
                .get("__ref")
                .and_then(Value::as_u64)
                .and_then(|i| refs.get(usize::try_from(i).ok()?))
            {
                let Some(cache) = cache else {
                    return e.write_selection(nodes, out);
                };
                let key = Arc::as_ptr(e) as usize;
                if let Some((_, bytes)) = cache.get(&key) {
                    out.extend_from_slice(bytes);
                    return Ok(());
                }
                let start = out.len();
                e.write_selection(nodes, out)?;
                cache.insert(key, (Arc::clone(e), out[start..].to_vec()));
                return Ok(());
            }
            out.push(b'{');
            let mut written: Vec<&str> = Vec::new();
            write_fields(obj, nodes, out, &mut written, refs, cache)?;
            out.push(b'}');
            Ok(())
        }
        other => serde_json::to_writer(&mut *out, other).map_err(|e| e.to_string()),
    }
}

fn write_fields<'n>(
    obj: &Map<String, Value>,
    nodes: &'n [Node],
    out: &mut Vec<u8>,
    written: &mut Vec<&'n str>,
    refs: &[Arc<SimEndpoint>],
    mut cache: Option<&mut Rendered>,
) -> Result<(), String> {
    let type_name = obj
        .get("__typename")
        .and_then(Value::as_str)
        .unwrap_or("Object");
    for n in nodes {
        match n {
            Node::Field(f) => {
                if written.contains(&f.key()) {
                    continue;
                }
                let value = if f.name == "__typename" {
                    obj.get("__typename").unwrap_or(&Value::Null)
                } else {
                    obj.get(&f.name).ok_or_else(|| {
                        format!("Cannot query field \"{}\" on type \"{type_name}\".", f.name)
                    })?
                };
                if !written.is_empty() {
                    out.push(b',');
                }
                written.push(f.key());
                serde_json::to_writer(&mut *out, f.key()).map_err(|e| e.to_string())?;
                out.push(b':');
                write_with_refs(value, &f.children, out, refs, cache.as_deref_mut())?;
            }
            Node::Fragment(condition, children) => {
                if condition.as_deref().is_none_or(|c| c == type_name) {
                    write_fields(obj, children, out, written, refs, cache.as_deref_mut())?;
                }
            }
        }
    }
    Ok(())
}

/// [`write_projection`] into a JSON value (tests).
#[cfg(test)]
pub(crate) fn project(value: &Value, nodes: &[Node]) -> Result<Value, String> {
    let mut out = Vec::new();
    write_projection(value, nodes, &mut out)?;
    Ok(serde_json::from_slice(&out).expect("projection writes JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_variables_fragments_and_projects() {
        let q = r#"query Q($first: Int = 5, $f: EndpointFieldFilter) {
            e: endpoints(first: $first, filter: $f) { totalRecords edges { node { __typename ... on Endpoint { id } ...More } } }
        }
        fragment More on Endpoint { name }"#;
        let vars = json!({"f": {"path": "id", "value": "1"}});
        let op = parse(q, None, vars.as_object().unwrap()).unwrap();
        assert_eq!(op.name.as_deref(), Some("Q"));
        let f = &op.fields[0];
        assert_eq!((f.name.as_str(), f.key()), ("endpoints", "e"));
        assert_eq!(f.args["first"], 5);
        assert_eq!(f.args["filter"]["value"], "1");
        let data = json!({"__typename": "EndpointConnection", "totalRecords": 1, "edges": [
            {"__typename": "EndpointEdge", "node": {"__typename": "Endpoint", "id": "1", "name": "a", "model": "x"}}]});
        let projected = project(&data, &f.children).unwrap();
        assert_eq!(
            projected,
            json!({"totalRecords": 1, "edges": [{"node": {"__typename": "Endpoint", "id": "1", "name": "a"}}]})
        );
        assert!(selects(&f.children, "name"));
        assert!(!selects(&f.children, "model"));
    }

    #[test]
    fn unknown_fields_and_bad_syntax_are_errors() {
        let op = parse("{ endpoints { bogus } }", None, &Map::new()).unwrap();
        let e = project(
            &json!({"__typename": "EndpointConnection"}),
            &op.fields[0].children,
        )
        .unwrap_err();
        assert!(e.contains("Cannot query field \"bogus\""), "{e}");
        assert!(parse("{ endpoints(", None, &Map::new()).is_err());
        assert!(parse("mutation { ping }", None, &Map::new()).is_err());
    }
}
