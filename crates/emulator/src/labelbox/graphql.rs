//! A small GraphQL executor for the Labelbox emulator (decision 0005): documents are parsed with
//! `graphql-parser`, validated against the SDL schema file `schema.graphql` (a copy of the
//! partial Labelbox schema of the wire specification), and executed by projecting JSON values
//! produced by a [`Resolver`] through the selection sets (aliases, fragments, variables,
//! `@include`/`@skip`, `__typename`). Errors are Apollo-shaped and worded like graphql-js,
//! because the official client tests the prefixes (labelbox.md §3.2, §15.3).

use graphql_parser::query::{
    Definition, Document, Field, OperationDefinition, Selection, SelectionSet, Type,
    Value as GValue, VariableDefinition,
};
use graphql_parser::Pos;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

/// A JSON object.
pub(crate) type Obj = Map<String, Value>;

/// The schema file: the partial Labelbox schema plus nothing else.
const SCHEMA_SDL: &str = include_str!("schema.graphql");

/// Estimated cost above which a document is refused with graphql's complexity message.
const COMPLEXITY_LIMIT: u64 = 250_000;

/// Multiplier of a field the schema does not know (counted as a list of 100) and of a field
/// that takes `first` without a value.
const DEFAULT_LIST_COST: u64 = 100;

/// A type reference of the schema.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum TypeRef {
    Named(String),
    List(Box<TypeRef>),
    NonNull(Box<TypeRef>),
}

impl TypeRef {
    fn from_ast<'a, T: graphql_parser::query::Text<'a>>(t: &Type<'a, T>) -> TypeRef {
        match t {
            Type::NamedType(n) => TypeRef::Named(n.as_ref().to_owned()),
            Type::ListType(i) => TypeRef::List(Box::new(TypeRef::from_ast(i))),
            Type::NonNullType(i) => TypeRef::NonNull(Box::new(TypeRef::from_ast(i))),
        }
    }

    /// The named type at the bottom.
    pub(crate) fn base(&self) -> &str {
        match self {
            TypeRef::Named(n) => n,
            TypeRef::List(i) | TypeRef::NonNull(i) => i.base(),
        }
    }
}

impl std::fmt::Display for TypeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TypeRef::Named(n) => f.write_str(n),
            TypeRef::List(i) => write!(f, "[{i}]"),
            TypeRef::NonNull(i) => write!(f, "{i}!"),
        }
    }
}

struct FieldDef {
    ty: TypeRef,
    args: Vec<(String, TypeRef)>,
}

enum TypeDef {
    Scalar,
    Enum(HashSet<String>),
    Object(HashMap<String, FieldDef>),
    Input(Vec<(String, TypeRef)>),
}

/// The schema, reduced to what validation and execution need.
pub(crate) struct Schema {
    types: HashMap<String, TypeDef>,
}

impl Schema {
    fn parse(sdl: &str) -> Result<Schema, String> {
        use graphql_parser::schema::{Definition as SD, TypeDefinition as TD};
        let doc = graphql_parser::parse_schema::<String>(sdl).map_err(|e| e.to_string())?;
        let mut types = HashMap::new();
        for s in ["String", "Int", "Float", "Boolean", "ID"] {
            types.insert(s.to_owned(), TypeDef::Scalar);
        }
        for def in doc.definitions {
            let SD::TypeDefinition(td) = def else {
                continue;
            };
            let (name, t) = match td {
                TD::Scalar(s) => (s.name, TypeDef::Scalar),
                TD::Enum(e) => (
                    e.name,
                    TypeDef::Enum(e.values.into_iter().map(|v| v.name).collect()),
                ),
                TD::Object(o) => (
                    o.name,
                    TypeDef::Object(
                        o.fields
                            .into_iter()
                            .map(|f| {
                                let args = f
                                    .arguments
                                    .iter()
                                    .map(|a| (a.name.clone(), TypeRef::from_ast(&a.value_type)))
                                    .collect();
                                (
                                    f.name,
                                    FieldDef {
                                        ty: TypeRef::from_ast(&f.field_type),
                                        args,
                                    },
                                )
                            })
                            .collect(),
                    ),
                ),
                TD::InputObject(i) => (
                    i.name,
                    TypeDef::Input(
                        i.fields
                            .iter()
                            .map(|f| (f.name.clone(), TypeRef::from_ast(&f.value_type)))
                            .collect(),
                    ),
                ),
                TD::Interface(_) | TD::Union(_) => continue,
            };
            types.insert(name, t);
        }
        Ok(Schema { types })
    }

    /// The schema built from the embedded SDL, once.
    pub(crate) fn get() -> Result<&'static Schema, String> {
        static SCHEMA: OnceLock<Result<Schema, String>> = OnceLock::new();
        SCHEMA
            .get_or_init(|| Schema::parse(SCHEMA_SDL))
            .as_ref()
            .map_err(|e| format!("the emulator's Labelbox schema does not parse: {e}"))
    }

    fn field(&self, ty: &str, name: &str) -> Option<&FieldDef> {
        match self.types.get(ty) {
            Some(TypeDef::Object(fields)) => fields.get(name),
            _ => None,
        }
    }

    fn is_object(&self, ty: &str) -> bool {
        matches!(self.types.get(ty), Some(TypeDef::Object(_)))
    }

    fn is_input_type(&self, ty: &str) -> bool {
        matches!(
            self.types.get(ty),
            Some(TypeDef::Scalar | TypeDef::Enum(_) | TypeDef::Input(_))
        )
    }
}

/// One GraphQL error in Apollo's shape.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct GqlError {
    pub message: String,
    pub code: &'static str,
    /// `extensions.exception.status`, when the vendor sets one.
    pub status: Option<u16>,
    pub locations: Vec<Pos>,
    pub path: Vec<Value>,
}

impl GqlError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        GqlError {
            message: message.into(),
            code,
            status: None,
            locations: Vec::new(),
            path: Vec::new(),
        }
    }

    fn at(mut self, pos: Pos) -> Self {
        self.locations.push(pos);
        self
    }

    fn validation(message: impl Into<String>, pos: Pos) -> Self {
        GqlError::new("GRAPHQL_VALIDATION_FAILED", message).at(pos)
    }

    /// The JSON error object.
    pub(crate) fn to_json(&self) -> Value {
        let mut ext = json!({"code": self.code});
        if let Some(status) = self.status {
            ext["exception"] =
                json!({"status": status, "message": self.message, "response": self.message});
        }
        let mut e = json!({"message": self.message, "extensions": ext});
        if !self.locations.is_empty() {
            e["locations"] = Value::Array(
                self.locations
                    .iter()
                    .map(|p| json!({"line": p.line, "column": p.column}))
                    .collect(),
            );
        }
        if !self.path.is_empty() {
            e["path"] = Value::Array(self.path.clone());
        }
        e
    }
}

/// What a resolver answers for one field: a JSON value to project, or an error.
pub(crate) type FieldResult = Result<Value, GqlError>;

/// Whether the operation is a query or a mutation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpKind {
    Query,
    Mutation,
}

/// The domain side of execution.
pub(crate) trait Resolver {
    /// A root field of `Query` or `Mutation`, with coerced arguments.
    fn root(&mut self, op: OpKind, field: &str, args: &Obj) -> FieldResult;
    /// A field of an object type that is computed rather than read from the parent JSON
    /// (fields with arguments, relations). `None`: read `parent[field]`.
    fn field(&mut self, ty: &str, parent: &Value, field: &str, args: &Obj) -> Option<FieldResult>;
}

/// The result of one request: HTTP status and body.
pub(crate) struct Outcome {
    pub status: u16,
    pub body: Value,
}

impl Outcome {
    fn errors(status: u16, errors: Vec<GqlError>) -> Outcome {
        Outcome {
            status,
            body: json!({"errors": errors.iter().map(GqlError::to_json).collect::<Vec<_>>()}),
        }
    }
}

/// graphql-js wording of a syntax error from graphql-parser's message
/// ("Parse error at 1:1\nUnexpected `asda[Name]`\n...").
fn syntax_error(raw: &str) -> GqlError {
    let mut pos = Pos { line: 1, column: 1 };
    if let Some(at) = raw.split("Parse error at ").nth(1) {
        let lc: String = at
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ':')
            .collect();
        let mut it = lc.split(':').filter_map(|n| n.parse::<usize>().ok());
        if let (Some(line), Some(column)) = (it.next(), it.next()) {
            pos = Pos { line, column };
        }
    }
    let unexpected = raw
        .lines()
        .find_map(|l| l.trim().strip_prefix("Unexpected "))
        .unwrap_or("");
    let token = if let Some(inner) = unexpected
        .strip_prefix('`')
        .and_then(|s| s.strip_suffix('`'))
    {
        match inner.rsplit_once('[') {
            Some((text, kind)) => {
                let kind = kind.trim_end_matches(']');
                match kind {
                    "Punctuator" => format!("\"{text}\""),
                    "Name" => format!("Name \"{text}\""),
                    "IntValue" => format!("Int \"{text}\""),
                    "FloatValue" => format!("Float \"{text}\""),
                    "StringValue" | "BlockString" => format!("String {text}"),
                    _ => format!("\"{text}\""),
                }
            }
            None => format!("\"{inner}\""),
        }
    } else if unexpected.contains("end of input") || unexpected.is_empty() {
        "<EOF>".to_owned()
    } else {
        unexpected.to_owned()
    };
    GqlError::new(
        "GRAPHQL_PARSE_FAILED",
        format!("Syntax Error: Unexpected {token}."),
    )
    .at(pos)
}

type Doc<'a> = Document<'a, &'a str>;
type Sel<'a> = SelectionSet<'a, &'a str>;
type GVal<'a> = GValue<'a, &'a str>;

struct Operation<'a> {
    kind: OpKind,
    name: Option<&'a str>,
    vars: &'a [VariableDefinition<'a, &'a str>],
    selection: &'a Sel<'a>,
    position: Pos,
}

fn find_operation<'a>(doc: &'a Doc<'a>, name: Option<&str>) -> Result<Operation<'a>, GqlError> {
    let mut ops = Vec::new();
    for d in &doc.definitions {
        if let Definition::Operation(op) = d {
            let o = match op {
                OperationDefinition::SelectionSet(s) => Operation {
                    kind: OpKind::Query,
                    name: None,
                    vars: &[],
                    selection: s,
                    position: s.span.0,
                },
                OperationDefinition::Query(q) => Operation {
                    kind: OpKind::Query,
                    name: q.name,
                    vars: &q.variable_definitions,
                    selection: &q.selection_set,
                    position: q.position,
                },
                OperationDefinition::Mutation(m) => Operation {
                    kind: OpKind::Mutation,
                    name: m.name,
                    vars: &m.variable_definitions,
                    selection: &m.selection_set,
                    position: m.position,
                },
                OperationDefinition::Subscription(s) => {
                    return Err(GqlError::validation(
                        "Subscriptions are not supported by this server.",
                        s.position,
                    ))
                }
            };
            ops.push(o);
        }
    }
    match name {
        Some(n) => ops.into_iter().find(|o| o.name == Some(n)).ok_or_else(|| {
            GqlError::new(
                "BAD_USER_INPUT",
                format!("Unknown operation named \"{n}\"."),
            )
        }),
        None => {
            if ops.len() > 1 {
                return Err(GqlError::new(
                    "BAD_USER_INPUT",
                    "Must provide operation name if query contains multiple operations.",
                ));
            }
            ops.into_iter()
                .next()
                .ok_or_else(|| GqlError::new("BAD_USER_INPUT", "Must provide an operation."))
        }
    }
}

/// Where execution is (response path) and the field errors so far.
#[derive(Default)]
struct Walk {
    path: Vec<Value>,
    errors: Vec<GqlError>,
}

struct Ctx<'a> {
    schema: &'static Schema,
    fragments: HashMap<&'a str, &'a graphql_parser::query::FragmentDefinition<'a, &'a str>>,
    vars: Obj,
    /// Validating the document before the variables are coerced: arguments that use
    /// variables are checked at execution.
    static_pass: bool,
}

/// A literal or variable argument value as JSON (variables substituted).
fn to_json(v: &GVal<'_>, vars: &Obj) -> Value {
    match v {
        GValue::Variable(n) => vars.get(*n).cloned().unwrap_or(Value::Null),
        GValue::Int(n) => n.as_i64().map_or(Value::Null, |i| json!(i)),
        GValue::Float(f) => json!(f),
        GValue::String(s) => Value::String(s.clone()),
        GValue::Boolean(b) => Value::Bool(*b),
        GValue::Null => Value::Null,
        GValue::Enum(e) => Value::String((*e).to_owned()),
        GValue::List(l) => Value::Array(l.iter().map(|i| to_json(i, vars)).collect()),
        GValue::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| ((*k).to_owned(), to_json(v, vars)))
                .collect(),
        ),
    }
}

fn describe(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Coerce an input value to a schema type (graphql-js input coercion, simplified): returns the
/// coerced value or the message of the first problem.
fn coerce(schema: &Schema, ty: &TypeRef, v: Value, at: &str) -> Result<Value, String> {
    match ty {
        TypeRef::NonNull(inner) => {
            if v.is_null() {
                return Err(format!(
                    "Expected non-nullable type \"{ty}\" not to be null at \"{at}\"."
                ));
            }
            coerce(schema, inner, v, at)
        }
        _ if v.is_null() => Ok(Value::Null),
        TypeRef::List(inner) => match v {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| coerce(schema, inner, item, &format!("{at}[{i}]")))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            single => Ok(Value::Array(vec![coerce(schema, inner, single, at)?])),
        },
        TypeRef::Named(name) => match (name.as_str(), schema.types.get(name)) {
            ("Int", _) => match v.as_i64() {
                Some(i) if i32::try_from(i).is_ok() => Ok(json!(i)),
                _ => Err(format!(
                    "Int cannot represent non-integer value: {} at \"{at}\".",
                    describe(&v)
                )),
            },
            ("Float", _) => match v.as_f64() {
                Some(_) => Ok(v),
                None => Err(format!(
                    "Float cannot represent non numeric value: {} at \"{at}\".",
                    describe(&v)
                )),
            },
            ("String", _) => match v {
                Value::String(_) => Ok(v),
                _ => Err(format!(
                    "String cannot represent a non string value: {} at \"{at}\".",
                    describe(&v)
                )),
            },
            ("Boolean", _) => match v {
                Value::Bool(_) => Ok(v),
                _ => Err(format!(
                    "Boolean cannot represent a non boolean value: {} at \"{at}\".",
                    describe(&v)
                )),
            },
            ("ID", _) => match v {
                Value::String(_) => Ok(v),
                Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Value::String(n.to_string())),
                _ => Err(format!(
                    "ID cannot represent value: {} at \"{at}\".",
                    describe(&v)
                )),
            },
            ("UInt64", _) => {
                let ok = match &v {
                    Value::String(s) => s.trim().parse::<u64>().is_ok(),
                    Value::Number(n) => n.is_u64(),
                    _ => false,
                };
                if ok {
                    Ok(v)
                } else {
                    Err(format!(
                        "UInt64 cannot represent value: {} at \"{at}\".",
                        describe(&v)
                    ))
                }
            }
            ("PageSize", _) => match v.as_i64() {
                Some(_) => Ok(v),
                None => Err(format!(
                    "PageSize cannot represent value: {} at \"{at}\".",
                    describe(&v)
                )),
            },
            (_, Some(TypeDef::Scalar)) => Ok(v),
            (_, Some(TypeDef::Enum(values))) => match v.as_str() {
                Some(s) if values.contains(s) => Ok(v),
                _ => Err(format!(
                    "Value {} does not exist in \"{name}\" enum at \"{at}\".",
                    describe(&v)
                )),
            },
            (_, Some(TypeDef::Input(fields))) => {
                let Value::Object(mut o) = v else {
                    return Err(format!(
                        "Expected type \"{name}\" to be an object at \"{at}\"."
                    ));
                };
                if let Some(k) = o.keys().find(|k| !fields.iter().any(|(f, _)| f == *k)) {
                    return Err(format!(
                        "Field \"{k}\" is not defined by type \"{name}\" at \"{at}\"."
                    ));
                }
                let mut out = Obj::new();
                for (f, fty) in fields {
                    match o.remove(f) {
                        Some(val) => {
                            out.insert(f.clone(), coerce(schema, fty, val, &format!("{at}.{f}"))?);
                        }
                        None if matches!(fty, TypeRef::NonNull(_)) => {
                            return Err(format!(
                                "Field \"{name}.{f}\" of required type \"{fty}\" was not provided at \"{at}\"."
                            ))
                        }
                        None => {}
                    }
                }
                Ok(Value::Object(out))
            }
            _ => Err(format!("Unknown type \"{name}\".")),
        },
    }
}

/// Coerce the request variables against the operation's definitions.
fn coerce_variables<'a>(
    schema: &Schema,
    defs: &[VariableDefinition<'a, &'a str>],
    given: &Obj,
) -> Result<Obj, GqlError> {
    let mut out = Obj::new();
    for d in defs {
        let ty = TypeRef::from_ast(&d.var_type);
        if !schema.types.contains_key(ty.base()) {
            return Err(GqlError::validation(
                format!("Unknown type \"{}\".", ty.base()),
                d.position,
            ));
        }
        if !schema.is_input_type(ty.base()) {
            return Err(GqlError::validation(
                format!(
                    "Variable \"${}\" cannot be non-input type \"{ty}\".",
                    d.name
                ),
                d.position,
            ));
        }
        // The multipart upload sends `file: null` for an `Upload!`: the part replaces it.
        if ty.base() == "Upload" {
            out.insert(
                d.name.to_owned(),
                given.get(d.name).cloned().unwrap_or(Value::Null),
            );
            continue;
        }
        let value = match given.get(d.name) {
            Some(v) => v.clone(),
            None => match &d.default_value {
                Some(dv) => to_json(dv, &Obj::new()),
                None => {
                    if matches!(ty, TypeRef::NonNull(_)) {
                        return Err(GqlError::validation(
                            format!(
                                "Variable \"${}\" of required type \"{ty}\" was not provided.",
                                d.name
                            ),
                            d.position,
                        ));
                    }
                    continue;
                }
            },
        };
        match coerce(schema, &ty, value.clone(), d.name) {
            Ok(v) => {
                out.insert(d.name.to_owned(), v);
            }
            Err(reason) => {
                return Err(GqlError::validation(
                    format!(
                        "Variable \"${}\" got invalid value {}; {reason}",
                        d.name,
                        describe(&value)
                    ),
                    d.position,
                ))
            }
        }
    }
    Ok(out)
}

impl<'a> Ctx<'a> {
    /// Whether `@skip` / `@include` keep a selection.
    fn included(&self, directives: &[graphql_parser::query::Directive<'a, &'a str>]) -> bool {
        for d in directives {
            let cond = d
                .arguments
                .iter()
                .find(|(k, _)| *k == "if")
                .map(|(_, v)| to_json(v, &self.vars).as_bool().unwrap_or(false));
            match (d.name, cond) {
                ("skip", Some(true)) | ("include", Some(false)) => return false,
                _ => {}
            }
        }
        true
    }

    /// The fields of a selection set on `ty`, fragments expanded, in document order.
    fn collect(
        &self,
        ty: &str,
        sel: &'a Sel<'a>,
        out: &mut Vec<&'a Field<'a, &'a str>>,
        depth: usize,
    ) {
        if depth > 32 {
            return;
        }
        for item in &sel.items {
            match item {
                Selection::Field(f) => {
                    if self.included(&f.directives) {
                        out.push(f);
                    }
                }
                Selection::FragmentSpread(s) => {
                    if !self.included(&s.directives) {
                        continue;
                    }
                    if let Some(fr) = self.fragments.get(s.fragment_name) {
                        let graphql_parser::query::TypeCondition::On(on) = &fr.type_condition;
                        if *on == ty {
                            self.collect(ty, &fr.selection_set, out, depth + 1);
                        }
                    }
                }
                Selection::InlineFragment(i) => {
                    if !self.included(&i.directives) {
                        continue;
                    }
                    let applies = match &i.type_condition {
                        Some(graphql_parser::query::TypeCondition::On(on)) => *on == ty,
                        None => true,
                    };
                    if applies {
                        self.collect(ty, &i.selection_set, out, depth + 1);
                    }
                }
            }
        }
    }

    fn args(&self, def: &FieldDef, f: &Field<'a, &'a str>) -> Result<Obj, GqlError> {
        let mut out = Obj::new();
        for (name, ty) in &def.args {
            let given = f.arguments.iter().find(|(k, _)| *k == name.as_str());
            let value = match given {
                Some((_, v)) if self.static_pass && uses_variables(v) => continue,
                Some((_, GValue::Variable(v))) if !self.vars.contains_key(*v) => None,
                Some((_, v)) => Some(to_json(v, &self.vars)),
                None => None,
            };
            match value {
                Some(v) => {
                    let c = coerce(self.schema, ty, v, name).map_err(|reason| {
                        GqlError::validation(
                            format!("Argument \"{name}\" of field \"{}\" has an invalid value: {reason}", f.name),
                            f.position,
                        )
                    })?;
                    out.insert(name.clone(), c);
                }
                None if matches!(ty, TypeRef::NonNull(_)) => {
                    return Err(GqlError::validation(
                        format!(
                            "Field \"{}\" argument \"{name}\" of type \"{ty}\" is required, but it was not provided.",
                            f.name
                        ),
                        f.position,
                    ))
                }
                None => {}
            }
        }
        Ok(out)
    }

    /// Static validation of a selection set on `ty` (fields, arguments, sub-selections,
    /// fragments, variables).
    fn validate(
        &self,
        ty: &str,
        sel: &'a Sel<'a>,
        defined: &HashSet<&str>,
        errors: &mut Vec<GqlError>,
        depth: usize,
    ) {
        if depth > 32 {
            return;
        }
        for item in &sel.items {
            match item {
                Selection::Field(f) => self.validate_field(ty, f, defined, errors, depth),
                Selection::FragmentSpread(s) => match self.fragments.get(s.fragment_name) {
                    Some(fr) => {
                        let graphql_parser::query::TypeCondition::On(on) = &fr.type_condition;
                        if !self.schema.is_object(on) {
                            errors.push(GqlError::validation(
                                format!("Unknown type \"{on}\"."),
                                fr.position,
                            ));
                        } else {
                            self.validate(on, &fr.selection_set, defined, errors, depth + 1);
                        }
                    }
                    None => errors.push(GqlError::validation(
                        format!("Unknown fragment \"{}\".", s.fragment_name),
                        s.position,
                    )),
                },
                Selection::InlineFragment(i) => {
                    let on = match &i.type_condition {
                        Some(graphql_parser::query::TypeCondition::On(on)) => *on,
                        None => ty,
                    };
                    if !self.schema.is_object(on) {
                        errors.push(GqlError::validation(
                            format!("Unknown type \"{on}\"."),
                            i.position,
                        ));
                    } else {
                        self.validate(on, &i.selection_set, defined, errors, depth + 1);
                    }
                }
            }
        }
    }

    fn validate_field(
        &self,
        ty: &str,
        f: &'a Field<'a, &'a str>,
        defined: &HashSet<&str>,
        errors: &mut Vec<GqlError>,
        depth: usize,
    ) {
        for (_, v) in f
            .arguments
            .iter()
            .chain(f.directives.iter().flat_map(|d| d.arguments.iter()))
        {
            check_vars_defined(v, defined, f.position, errors);
        }
        if f.name == "__typename" {
            return;
        }
        let Some(def) = self.schema.field(ty, f.name) else {
            errors.push(GqlError::validation(
                format!("Cannot query field \"{}\" on type \"{ty}\".", f.name),
                f.position,
            ));
            return;
        };
        for (arg, _) in &f.arguments {
            if !def.args.iter().any(|(a, _)| a == arg) {
                errors.push(GqlError::validation(
                    format!("Unknown argument \"{arg}\" on field \"{ty}.{}\".", f.name),
                    f.position,
                ));
            }
        }
        if let Err(e) = self.args(def, f) {
            errors.push(e);
        }
        let base = def.ty.base();
        let has_sub = !f.selection_set.items.is_empty();
        if self.schema.is_object(base) {
            if !has_sub {
                errors.push(GqlError::validation(
                    format!(
                        "Field \"{}\" of type \"{}\" must have a selection of subfields. Did you mean \"{} {{ ... }}\"?",
                        f.name, def.ty, f.name
                    ),
                    f.position,
                ));
            } else {
                self.validate(base, &f.selection_set, defined, errors, depth + 1);
            }
        } else if has_sub {
            errors.push(GqlError::validation(
                format!(
                    "Field \"{}\" must not have a selection since type \"{}\" has no subfields.",
                    f.name, def.ty
                ),
                f.position,
            ));
        }
    }

    /// Estimated cost: fields multiplied by the `first` of enclosing fields (or 100 for fields
    /// unknown to the schema), so nested lists add up quickly.
    fn cost(&self, ty: Option<&str>, sel: &'a Sel<'a>, depth: usize) -> u64 {
        if depth > 32 {
            return COMPLEXITY_LIMIT + 1;
        }
        let mut total: u64 = 0;
        for item in &sel.items {
            let c = match item {
                Selection::Field(f) => {
                    let def = ty.and_then(|t| self.schema.field(t, f.name));
                    let first = f
                        .arguments
                        .iter()
                        .find(|(k, _)| *k == "first")
                        .map(|(_, v)| to_json(v, &self.vars).as_u64().unwrap_or(DEFAULT_LIST_COST));
                    let mult = match (def, first) {
                        (_, Some(n)) => n.max(1),
                        (None, None) if f.name != "__typename" => DEFAULT_LIST_COST,
                        _ => 1,
                    };
                    let inner = if f.selection_set.items.is_empty() {
                        1
                    } else {
                        self.cost(def.map(|d| d.ty.base()), &f.selection_set, depth + 1)
                    };
                    mult.saturating_mul(inner)
                }
                Selection::FragmentSpread(s) => match self.fragments.get(s.fragment_name) {
                    Some(fr) => {
                        let graphql_parser::query::TypeCondition::On(on) = &fr.type_condition;
                        self.cost(Some(on), &fr.selection_set, depth + 1)
                    }
                    None => 1,
                },
                Selection::InlineFragment(i) => self.cost(ty, &i.selection_set, depth + 1),
            };
            total = total.saturating_add(c);
        }
        total
    }

    fn execute_set(
        &self,
        resolver: &mut dyn Resolver,
        ty: &str,
        parent: &Value,
        sel: &'a Sel<'a>,
        root: Option<OpKind>,
        walk: &mut Walk,
    ) -> Value {
        let mut fields = Vec::new();
        self.collect(ty, sel, &mut fields, 0);
        let mut out = Obj::new();
        for f in fields {
            let key = f.alias.unwrap_or(f.name);
            if f.name == "__typename" {
                out.insert(key.to_owned(), json!(ty));
                continue;
            }
            let Some(def) = self.schema.field(ty, f.name) else {
                continue;
            };
            walk.path.push(json!(key));
            let value = match self.args(def, f) {
                Err(e) => Err(e),
                Ok(args) => match root {
                    Some(kind) => resolver.root(kind, f.name, &args),
                    None => resolver
                        .field(ty, parent, f.name, &args)
                        .unwrap_or_else(|| Ok(parent.get(f.name).cloned().unwrap_or(Value::Null))),
                },
            };
            let projected = match value {
                Ok(v) => self.project(resolver, &def.ty, v, &f.selection_set, walk),
                Err(mut e) => {
                    e.path = walk.path.clone();
                    if e.locations.is_empty() {
                        e.locations.push(f.position);
                    }
                    walk.errors.push(e);
                    Value::Null
                }
            };
            walk.path.pop();
            out.insert(key.to_owned(), projected);
        }
        Value::Object(out)
    }

    fn project(
        &self,
        resolver: &mut dyn Resolver,
        ty: &TypeRef,
        v: Value,
        sel: &'a Sel<'a>,
        walk: &mut Walk,
    ) -> Value {
        if v.is_null() {
            return Value::Null;
        }
        match ty {
            TypeRef::NonNull(inner) => self.project(resolver, inner, v, sel, walk),
            TypeRef::List(inner) => match v {
                Value::Array(items) => Value::Array(
                    items
                        .into_iter()
                        .enumerate()
                        .map(|(i, item)| {
                            walk.path.push(json!(i));
                            let r = self.project(resolver, inner, item, sel, walk);
                            walk.path.pop();
                            r
                        })
                        .collect(),
                ),
                single => self.project(resolver, inner, single, sel, walk),
            },
            TypeRef::Named(name) => {
                if self.schema.is_object(name) {
                    self.execute_set(resolver, name, &v, sel, None, walk)
                } else {
                    v
                }
            }
        }
    }
}

fn uses_variables(v: &GVal<'_>) -> bool {
    match v {
        GValue::Variable(_) => true,
        GValue::List(l) => l.iter().any(uses_variables),
        GValue::Object(o) => o.values().any(uses_variables),
        _ => false,
    }
}

fn check_vars_defined(v: &GVal<'_>, defined: &HashSet<&str>, pos: Pos, errors: &mut Vec<GqlError>) {
    match v {
        GValue::Variable(n) if !defined.contains(n) => {
            errors.push(GqlError::validation(
                format!("Variable \"${n}\" is not defined."),
                pos,
            ));
        }
        GValue::List(l) => l
            .iter()
            .for_each(|i| check_vars_defined(i, defined, pos, errors)),
        GValue::Object(o) => o
            .values()
            .for_each(|i| check_vars_defined(i, defined, pos, errors)),
        _ => {}
    }
}

/// Parse, validate and execute one request.
pub(crate) fn execute(
    resolver: &mut dyn Resolver,
    query: &str,
    variables: &Obj,
    operation_name: Option<&str>,
) -> Outcome {
    let schema = match Schema::get() {
        Ok(s) => s,
        Err(e) => return Outcome::errors(500, vec![GqlError::new("INTERNAL_SERVER_ERROR", e)]),
    };
    let doc: Doc<'_> = match graphql_parser::parse_query::<&str>(query) {
        Ok(d) => d,
        Err(e) => return Outcome::errors(400, vec![syntax_error(&e.to_string())]),
    };
    let op = match find_operation(&doc, operation_name) {
        Ok(o) => o,
        Err(e) => return Outcome::errors(400, vec![e]),
    };
    let fragments = doc
        .definitions
        .iter()
        .filter_map(|d| match d {
            Definition::Fragment(f) => Some((f.name, f)),
            Definition::Operation(_) => None,
        })
        .collect();
    // As graphql-js: validate the document first (variables as sent, for the cost estimate),
    // then coerce the variables, then execute.
    let mut ctx = Ctx {
        schema,
        fragments,
        vars: variables.clone(),
        static_pass: true,
    };
    let root_ty = match op.kind {
        OpKind::Query => "Query",
        OpKind::Mutation => "Mutation",
    };
    if ctx.cost(Some(root_ty), op.selection, 0) > COMPLEXITY_LIMIT {
        return Outcome::errors(
            400,
            vec![GqlError::validation(
                "Query complexity limit exceeded",
                op.position,
            )],
        );
    }
    let defined: HashSet<&str> = op.vars.iter().map(|d| d.name).collect();
    let mut errors = Vec::new();
    ctx.validate(root_ty, op.selection, &defined, &mut errors, 0);
    if !errors.is_empty() {
        return Outcome::errors(400, errors);
    }
    ctx.vars = match coerce_variables(schema, op.vars, variables) {
        Ok(v) => v,
        Err(e) => return Outcome::errors(400, vec![e]),
    };
    ctx.static_pass = false;
    let mut walk = Walk::default();
    let data = ctx.execute_set(
        resolver,
        root_ty,
        &Value::Null,
        op.selection,
        Some(op.kind),
        &mut walk,
    );
    let mut body = json!({"data": data});
    if !walk.errors.is_empty() {
        body["errors"] = Value::Array(walk.errors.iter().map(GqlError::to_json).collect());
    }
    Outcome { status: 200, body }
}

/// Whether a type of the schema has a field (used by tests of the resolver's coverage).
#[cfg(test)]
pub(crate) fn schema_fields(ty: &str) -> Vec<String> {
    match Schema::get().ok().and_then(|s| s.types.get(ty)) {
        Some(TypeDef::Object(f)) => {
            let mut v: Vec<String> = f.keys().cloned().collect();
            v.sort();
            v
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;
    impl Resolver for Echo {
        fn root(&mut self, _op: OpKind, field: &str, args: &Obj) -> FieldResult {
            match field {
                "user" => Ok(json!({"id": "u1", "email": "e@x", "timezone": null})),
                "projects" => Ok(
                    json!([{"id": "p1", "name": "one"}, {"id": "p2", "name": args.get("first").cloned().unwrap_or(Value::Null)}]),
                ),
                "project" => Ok(json!({"id": args["where"]["id"]})),
                _ => Err(GqlError::new("RESOURCE_NOT_FOUND", "nope")),
            }
        }
        fn field(
            &mut self,
            ty: &str,
            parent: &Value,
            field: &str,
            _args: &Obj,
        ) -> Option<FieldResult> {
            (ty == "Project" && field == "labelCount")
                .then(|| Ok(json!(parent["id"].as_str().map_or(0, str::len))))
        }
    }

    fn run(q: &str, vars: Value) -> Outcome {
        let vars = vars.as_object().cloned().unwrap_or_default();
        execute(&mut Echo, q, &vars, None)
    }

    #[test]
    fn schema_parses_and_has_the_roots() {
        assert!(Schema::get().is_ok());
        assert!(schema_fields("Query").contains(&"projects".to_owned()));
        assert!(schema_fields("ProjectMutations").contains(&"createBatchV2".to_owned()));
    }

    #[test]
    fn syntax_error_is_worded_like_graphql_js() {
        let o = run("asda", json!({}));
        assert_eq!(o.status, 400);
        let e = &o.body["errors"][0];
        assert_eq!(e["extensions"]["code"], "GRAPHQL_PARSE_FAILED");
        assert_eq!(e["message"], "Syntax Error: Unexpected Name \"asda\".");
        let o = run("query {", json!({}));
        assert!(o.body["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("Syntax Error:"));
    }

    #[test]
    fn unknown_field_and_complexity() {
        let o = run("query {bbb {id}}", json!({}));
        assert_eq!(
            o.body["errors"][0]["message"],
            "Cannot query field \"bbb\" on type \"Query\"."
        );
        assert_eq!(
            o.body["errors"][0]["extensions"]["code"],
            "GRAPHQL_VALIDATION_FAILED"
        );
        let o = run("{projects {datasets {dataRows {labels {id}}}}}", json!({}));
        assert_eq!(
            o.body["errors"][0]["message"],
            "Query complexity limit exceeded"
        );
    }

    #[test]
    fn aliases_fragments_typename_directives_and_variables() {
        let q = "query Q($id: ID!, $inc: Boolean!) { p: project(where: {id: $id}) { ...F __typename n: labelCount name @include(if: $inc) } user { id timezone } }
                 fragment F on Project { id }";
        let o = run(q, json!({"id": "abc", "inc": false}));
        assert_eq!(o.status, 200, "{}", o.body);
        assert_eq!(
            o.body["data"]["p"],
            json!({"id": "abc", "__typename": "Project", "n": 3})
        );
        assert_eq!(
            o.body["data"]["user"],
            json!({"id": "u1", "timezone": null})
        );
    }

    #[test]
    fn literal_arguments_and_lists() {
        let o = run(
            "{ projects(where: {deleted: false} skip: 0 first: 100) { id name } }",
            json!(null),
        );
        assert_eq!(o.body["data"]["projects"][1]["name"], 100);
    }

    #[test]
    fn variable_type_errors_are_validation_errors() {
        let o = run(
            "query Q($id: ID!) { project(where: {id: $id}) { id } }",
            json!({}),
        );
        assert_eq!(
            o.body["errors"][0]["extensions"]["code"],
            "GRAPHQL_VALIDATION_FAILED"
        );
        let o = run(
            "mutation M($p: ID!, $b: CreateBatchInput!) { project(where: {id: $p}) { createBatchV2(input: $b) { failedDataRowIds } } }",
            json!({"p": "x", "b": {"name": "b", "priority": "abcd"}}),
        );
        assert_eq!(
            o.body["errors"][0]["extensions"]["code"],
            "GRAPHQL_VALIDATION_FAILED"
        );
        assert!(o.body["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("priority"));
    }

    #[test]
    fn documents_are_validated_before_variables() {
        let o = run(
            "query Q($id: ID!) { project(where: {id: $id}) { nope } }",
            json!({}),
        );
        assert_eq!(
            o.body["errors"][0]["message"],
            "Cannot query field \"nope\" on type \"Project\"."
        );
        let o = run(
            "query Q($id: ID!) { project(where: {id: $id}) { id } }",
            json!({}),
        );
        assert_eq!(
            o.body["errors"][0]["message"],
            "Variable \"$id\" of required type \"ID!\" was not provided."
        );
    }

    #[test]
    fn resolver_errors_carry_path_and_code() {
        let o = run("{ organization { id } }", json!({}));
        assert_eq!(o.body["data"]["organization"], Value::Null);
        assert_eq!(
            o.body["errors"][0]["extensions"]["code"],
            "RESOURCE_NOT_FOUND"
        );
        assert_eq!(o.body["errors"][0]["path"], json!(["organization"]));
    }
}
