//! Every operation the Tanium adapter sends, and every declaration of the project's schema
//! subset (`schemas/tanium.graphql`), checked against a real introspected Gateway schema
//! (`../shared/reference/tanium-gateway-schema-2023.graphql`, beside the crate). A field,
//! argument, enum value or input field that the real Gateway lacks fails these tests.
//!
//! The validator is small and purpose-built: fields and arguments exist, argument and
//! variable types are compatible, required arguments are given, leaf and composite
//! selections are used correctly, literals and the variables we send fit their input types.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use cynic_parser::Value as GqlValue;
use cynic_parser::executable::Selection;
use cynic_parser::type_system::{Definition, TypeDefinition};
use rmm_sync::provider::tanium::operation_samples;
use serde_json::Value;

const REAL_SCHEMA: &str = "../shared/reference/tanium-gateway-schema-2023.graphql";
const OUR_SCHEMA: &str = "schemas/tanium.graphql";

#[derive(Debug, Default)]
struct Field {
    ty: String,
    /// name → (type, has default)
    args: BTreeMap<String, (String, bool)>,
}

#[derive(Debug)]
enum Kind {
    Scalar,
    Object(BTreeMap<String, Field>),
    Enum(BTreeSet<String>),
    Input(BTreeMap<String, (String, bool)>),
    Union,
}

#[derive(Debug)]
struct Schema {
    types: BTreeMap<String, Kind>,
    query_root: String,
}

fn load(path: &str) -> Option<Schema> {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    let text = std::fs::read_to_string(&full).ok()?;
    let doc = cynic_parser::parse_type_system_document(&text)
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", full.display()));
    let mut types = BTreeMap::new();
    for builtin in ["Int", "Float", "String", "Boolean", "ID"] {
        types.insert(builtin.to_owned(), Kind::Scalar);
    }
    let mut query_root = "Query".to_owned();
    for def in doc.definitions() {
        match def {
            Definition::Schema(s) => {
                for root in s.root_operations() {
                    if root.operation_type().as_str() == "query" {
                        query_root = root.named_type().to_owned();
                    }
                }
            }
            Definition::Type(t) => {
                let kind = match t {
                    TypeDefinition::Scalar(_) => Kind::Scalar,
                    TypeDefinition::Union(_) => Kind::Union,
                    TypeDefinition::Enum(e) => {
                        Kind::Enum(e.values().map(|v| v.value().to_owned()).collect())
                    }
                    TypeDefinition::InputObject(i) => Kind::Input(
                        i.fields()
                            .map(|f| {
                                (
                                    f.name().to_owned(),
                                    (f.ty().to_string(), f.default_value().is_some()),
                                )
                            })
                            .collect(),
                    ),
                    TypeDefinition::Object(o) => Kind::Object(fields(o.fields())),
                    TypeDefinition::Interface(i) => Kind::Object(fields(i.fields())),
                };
                types.insert(t.name().to_owned(), kind);
            }
            _ => {}
        }
    }
    Some(Schema { types, query_root })
}

fn fields<'a>(
    defs: impl Iterator<Item = cynic_parser::type_system::FieldDefinition<'a>>,
) -> BTreeMap<String, Field> {
    defs.map(|f| {
        let args = f
            .arguments()
            .map(|a| {
                (
                    a.name().to_owned(),
                    (a.ty().to_string(), a.default_value().is_some()),
                )
            })
            .collect();
        (
            f.name().to_owned(),
            Field {
                ty: f.ty().to_string(),
                args,
            },
        )
    })
    .collect()
}

/// `[Foo!]!` → `Foo`.
fn named(ty: &str) -> &str {
    ty.trim_matches(|c| c == '[' || c == ']' || c == '!')
}

/// The type one list level down (`[Foo!]!` → `Foo!`), if it is a list.
fn item_type(ty: &str) -> Option<&str> {
    let t = ty.strip_suffix('!').unwrap_or(ty);
    t.strip_prefix('[')?.strip_suffix(']')
}

/// Whether a variable of type `var` may be passed where `arg` is expected.
fn compatible(var: &str, arg: &str, arg_has_default: bool) -> bool {
    var == arg
        || var.strip_suffix('!') == Some(arg)
        || (arg_has_default && arg.strip_suffix('!') == Some(var))
}

struct Checker<'s> {
    schema: &'s Schema,
    op: &'static str,
    errors: Vec<String>,
    variables: BTreeMap<String, String>,
}

impl Checker<'_> {
    fn fail(&mut self, message: String) {
        self.errors.push(format!("{}: {message}", self.op));
    }

    fn selections<'a>(&mut self, on: &str, selections: impl Iterator<Item = Selection<'a>>) {
        for s in selections {
            match s {
                Selection::Field(f) => self.field(on, f),
                Selection::InlineFragment(i) => {
                    let target = i.type_condition().unwrap_or(on).to_owned();
                    if !self.schema.types.contains_key(&target) {
                        self.fail(format!("fragment on unknown type {target}"));
                        continue;
                    }
                    self.selections(&target, i.selection_set());
                }
                Selection::FragmentSpread(s) => self.fail(format!(
                    "named fragment ...{} (the adapter's documents are inlined)",
                    s.fragment_name()
                )),
            }
        }
    }

    fn field(&mut self, on: &str, f: cynic_parser::executable::FieldSelection<'_>) {
        let name = f.name();
        if name == "__typename" {
            return;
        }
        let Some(Kind::Object(fields)) = self.schema.types.get(on) else {
            self.fail(format!("{on} is not an object type, cannot select {name}"));
            return;
        };
        let Some(def) = fields.get(name) else {
            self.fail(format!(
                "{on}.{name} does not exist in the real Gateway schema"
            ));
            return;
        };
        let mut given = BTreeSet::new();
        for a in f.arguments() {
            given.insert(a.name().to_owned());
            match def.args.get(a.name()) {
                None => self.fail(format!("{on}.{name} has no argument {}", a.name())),
                Some((ty, has_default)) => {
                    let (ty, has_default) = (ty.clone(), *has_default);
                    self.argument(
                        &format!("{on}.{name}({})", a.name()),
                        &a.value(),
                        &ty,
                        has_default,
                    );
                }
            }
        }
        for (arg, (ty, has_default)) in &def.args {
            if ty.ends_with('!') && !has_default && !given.contains(arg) {
                self.fail(format!("{on}.{name} needs argument {arg}: {ty}"));
            }
        }
        let target = named(&def.ty).to_owned();
        let composite = matches!(
            self.schema.types.get(&target),
            Some(Kind::Object(_) | Kind::Union)
        );
        let has_selection = f.selection_set().next().is_some();
        match (composite, has_selection) {
            (true, false) => self.fail(format!("{on}.{name} is a {target} and needs a selection")),
            (false, true) => self.fail(format!(
                "{on}.{name} is a leaf ({target}) and takes no selection"
            )),
            (true, true) => self.selections(&target, f.selection_set()),
            (false, false) => {}
        }
    }

    fn argument(&mut self, at: &str, value: &GqlValue<'_>, ty: &str, has_default: bool) {
        if let GqlValue::Variable(v) = value {
            match self.variables.get(v.name()) {
                None => self.fail(format!("{at} uses undeclared variable ${}", v.name())),
                Some(var_ty) if !compatible(var_ty, ty, has_default) => {
                    let var_ty = var_ty.clone();
                    self.fail(format!("{at} expects {ty} but ${} is {var_ty}", v.name()));
                }
                Some(_) => {}
            }
            return;
        }
        let json = literal_json(value);
        let mut errors = Vec::new();
        check_json(self.schema, &json, ty, at, &mut errors);
        for e in errors {
            self.fail(e);
        }
    }
}

fn literal_json(v: &GqlValue<'_>) -> Value {
    match v {
        GqlValue::Int(i) => Value::from(i.as_i64()),
        GqlValue::Float(f) => Value::from(f.as_f64()),
        GqlValue::String(s) => Value::from(s.as_str()),
        GqlValue::Boolean(b) => Value::from(b.as_bool()),
        GqlValue::Enum(e) => Value::from(e.as_str()),
        GqlValue::List(l) => Value::Array(l.items().map(|i| literal_json(&i)).collect()),
        GqlValue::Object(o) => Value::Object(
            o.fields()
                .map(|f| (f.name().to_owned(), literal_json(&f.value())))
                .collect(),
        ),
        GqlValue::Null(_) | GqlValue::Variable(_) => Value::Null,
    }
}

/// Checks an input value (a literal or a variable's JSON) against an input type.
fn check_json(schema: &Schema, value: &Value, ty: &str, at: &str, errors: &mut Vec<String>) {
    if value.is_null() {
        if ty.ends_with('!') {
            errors.push(format!("{at}: null for non-null {ty}"));
        }
        return;
    }
    if let Some(item) = item_type(ty) {
        match value {
            Value::Array(items) => items
                .iter()
                .for_each(|i| check_json(schema, i, item, at, errors)),
            single => check_json(schema, single, item, at, errors),
        }
        return;
    }
    let name = named(ty);
    match (schema.types.get(name), value) {
        (None, _) => errors.push(format!(
            "{at}: type {name} does not exist in the real schema"
        )),
        (Some(Kind::Scalar), v) => {
            let ok = match name {
                "Int" => v.is_i64(),
                "Float" => v.is_number(),
                "Boolean" => v.is_boolean(),
                "String" => v.is_string(),
                "ID" => v.is_string() || v.is_i64(),
                _ => true, // custom scalars (Time, Cursor …) carry text
            };
            if !ok {
                errors.push(format!("{at}: {v} is not a {name}"));
            }
        }
        (Some(Kind::Enum(values)), Value::String(s)) if values.contains(s) => {}
        (Some(Kind::Enum(_)), v) => errors.push(format!("{at}: {v} is not a value of enum {name}")),
        (Some(Kind::Input(fields)), Value::Object(obj)) => {
            for (k, v) in obj {
                match fields.get(k) {
                    None => errors.push(format!("{at}: input {name} has no field {k}")),
                    Some((fty, _)) => check_json(schema, v, fty, &format!("{at}.{k}"), errors),
                }
            }
            for (k, (fty, has_default)) in fields {
                if fty.ends_with('!') && !has_default && !obj.contains_key(k) {
                    errors.push(format!("{at}: input {name} needs field {k}"));
                }
            }
        }
        (Some(_), v) => errors.push(format!("{at}: {v} does not fit {ty}")),
    }
}

fn real_schema() -> Option<Schema> {
    let schema = load(REAL_SCHEMA);
    if schema.is_none() {
        eprintln!("skipping: {REAL_SCHEMA} is not present beside the crate (CI has it)");
    }
    schema
}

#[test]
fn every_operation_we_send_is_valid_against_the_real_gateway_schema() {
    let Some(schema) = real_schema() else { return };
    let samples = operation_samples();
    assert!(samples.len() >= 6);
    let mut errors = Vec::new();
    for sample in &samples {
        let doc = cynic_parser::parse_executable_document(&sample.query)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", sample.name));
        let op = doc.operations().next().expect("one operation");
        let mut checker = Checker {
            schema: &schema,
            op: sample.name,
            errors: Vec::new(),
            variables: BTreeMap::new(),
        };
        for v in op.variable_definitions() {
            let ty = v.ty().to_string();
            match schema.types.get(named(&ty)) {
                Some(Kind::Scalar | Kind::Enum(_) | Kind::Input(_)) => {}
                _ => checker.fail(format!("variable ${} has non-input type {ty}", v.name())),
            }
            let value = sample
                .variables
                .get(v.name())
                .cloned()
                .unwrap_or(Value::Null);
            check_json(
                &schema,
                &value,
                &ty,
                &format!("${}", v.name()),
                &mut checker.errors,
            );
            checker.variables.insert(v.name().to_owned(), ty);
        }
        checker.selections(&schema.query_root, op.selection_set());
        errors.extend(checker.errors);
    }
    assert!(
        errors.is_empty(),
        "operations invalid against the real schema:\n{}",
        errors.join("\n")
    );
}

#[test]
fn every_declaration_of_our_schema_subset_exists_in_the_real_schema() {
    let Some(real) = real_schema() else { return };
    let ours = load(OUR_SCHEMA).expect("schemas/tanium.graphql exists");
    let mut errors = Vec::new();
    for (name, kind) in &ours.types {
        let Some(theirs) = real.types.get(name) else {
            errors.push(format!("type {name} does not exist"));
            continue;
        };
        match (kind, theirs) {
            (Kind::Scalar, Kind::Scalar) | (Kind::Union, Kind::Union) => {}
            (Kind::Object(fields), Kind::Object(real_fields)) => {
                for (f, def) in fields {
                    let Some(real_def) = real_fields.get(f) else {
                        errors.push(format!("{name}.{f} does not exist"));
                        continue;
                    };
                    if def.ty != real_def.ty {
                        errors.push(format!(
                            "{name}.{f} is {} here but {} on the Gateway",
                            def.ty, real_def.ty
                        ));
                    }
                    for (a, (ty, _)) in &def.args {
                        match real_def.args.get(a) {
                            Some((real_ty, _)) if real_ty == ty => {}
                            Some((real_ty, _)) => errors.push(format!(
                                "{name}.{f}({a}) is {ty} here but {real_ty} on the Gateway"
                            )),
                            None => errors.push(format!("{name}.{f}({a}) does not exist")),
                        }
                    }
                }
            }
            (Kind::Enum(values), Kind::Enum(real_values)) => {
                for v in values.difference(real_values) {
                    errors.push(format!("enum value {name}.{v} does not exist"));
                }
            }
            (Kind::Input(fields), Kind::Input(real_fields)) => {
                for (f, (ty, _)) in fields {
                    match real_fields.get(f) {
                        Some((real_ty, _)) if real_ty == ty => {}
                        Some((real_ty, _)) => errors.push(format!(
                            "input {name}.{f} is {ty} here but {real_ty} on the Gateway"
                        )),
                        None => errors.push(format!("input {name}.{f} does not exist")),
                    }
                }
            }
            _ => errors.push(format!("{name} is a different kind of type on the Gateway")),
        }
    }
    assert!(
        errors.is_empty(),
        "schemas/tanium.graphql disagrees with the real Gateway:\n{}",
        errors.join("\n")
    );
}

#[test]
fn the_validator_catches_a_field_the_gateway_lacks() {
    let Some(schema) = real_schema() else { return };
    // An operation the Alga reference sends: `reportingConsoleURL` is newer than this schema.
    let query = "query Q($first: Int, $filter: EndpointFieldFilter) { endpoints(first: $first, filter: $filter, bogus: 1) { edges { node { id reportingConsoleURL os { name } } } } }";
    let doc = cynic_parser::parse_executable_document(query).unwrap();
    let op = doc.operations().next().unwrap();
    let mut checker = Checker {
        schema: &schema,
        op: "Q",
        errors: Vec::new(),
        variables: [
            ("first".into(), "Int".into()),
            ("filter".into(), "EndpointFieldFilter".into()),
        ]
        .into(),
    };
    checker.selections("Query", op.selection_set());
    let mut errors = Vec::new();
    check_json(
        &schema,
        &serde_json::json!({"path": "x", "op": "NEAR", "color": 1}),
        "EndpointFieldFilter",
        "$filter",
        &mut errors,
    );
    let all = [checker.errors, errors].concat().join("\n");
    assert!(
        all.contains("Endpoint.reportingConsoleURL does not exist"),
        "{all}"
    );
    assert!(all.contains("has no argument bogus"), "{all}");
    assert!(all.contains("not a value of enum FieldFilterOp"), "{all}");
    assert!(all.contains("has no field color"), "{all}");
}
