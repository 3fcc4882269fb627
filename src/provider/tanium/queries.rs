//! Typed Gateway operations (cynic), checked at compile time against `schemas/tanium.graphql`.
//!
//! Only core `Endpoint` fields are selected: module-specific fields (Discover, Comply, Asset …)
//! are missing on tenants without the module and would fail the whole query.

#![allow(missing_docs)]
// field names mirror the GraphQL schema one to one
// cynic generates marker types and variable-field structs without Debug.
#![allow(missing_debug_implementations)]

use cynic::{Operation, QueryBuilder};

// The generated marker types are public inside a private module.
#[allow(unreachable_pub)]
#[cynic::schema("tanium")]
mod schema {}

/// The Gateway's `Time` scalar, kept as text: it is parsed leniently where it is used, so one
/// odd timestamp cannot fail a whole page.
#[derive(cynic::Scalar, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Time(pub String);

/// The Gateway's opaque `Cursor` scalar.
#[derive(cynic::Scalar, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cursor(pub String);

// ---- now ---------------------------------------------------------------------------------

#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query")]
pub(crate) struct NowQuery {
    pub(crate) now: Time,
}

// ---- computer groups ---------------------------------------------------------------------

#[derive(cynic::QueryVariables, Clone, Debug)]
pub(crate) struct PageVariables {
    pub(crate) first: Option<i32>,
    #[cynic(skip_serializing_if = "Option::is_none")]
    pub(crate) after: Option<Cursor>,
}

#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query", variables = "PageVariables")]
pub(crate) struct ComputerGroupsQuery {
    #[arguments(first: $first, after: $after)]
    pub(crate) computer_groups: Option<ComputerGroupConnection>,
}

#[derive(cynic::QueryFragment, Debug)]
pub(crate) struct ComputerGroupConnection {
    pub(crate) total_records: i32,
    pub(crate) edges: Vec<ComputerGroupEdge>,
    pub(crate) page_info: PageInfo,
}

#[derive(cynic::QueryFragment, Debug)]
pub(crate) struct ComputerGroupEdge {
    pub(crate) node: ComputerGroup,
}

#[derive(cynic::QueryFragment, Debug)]
pub(crate) struct ComputerGroup {
    pub(crate) id: cynic::Id,
    pub(crate) name: String,
    #[cynic(rename = "type")]
    pub(crate) group_type: ComputerGroupType,
    pub(crate) management_rights_enabled: bool,
    pub(crate) filter_enabled: bool,
    pub(crate) expression: String,
    pub(crate) content_set: Option<NamedRef>,
}

#[derive(cynic::Enum, Clone, Debug, PartialEq, Eq)]
pub(crate) enum ComputerGroupType {
    Standard,
    Manual,
    /// A type added by a later Gateway release.
    #[cynic(fallback)]
    Other(String),
}

#[derive(cynic::QueryFragment, Debug)]
pub(crate) struct NamedRef {
    pub(crate) id: Option<cynic::Id>,
    pub(crate) name: Option<String>,
}

#[derive(cynic::QueryFragment, Debug)]
pub(crate) struct PageInfo {
    pub(crate) has_next_page: bool,
    pub(crate) end_cursor: Option<Cursor>,
}

// ---- endpoint filters --------------------------------------------------------------------

#[derive(cynic::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldFilterOp {
    Eq,
    Lt,
    Lte,
    Gt,
    Gte,
    Contains,
    StartsWith,
    EndsWith,
    Matches,
    UpdatedAfter,
    ReadAfter,
}

#[derive(cynic::InputObject, Clone, Debug, Default, PartialEq)]
pub(crate) struct EndpointFieldFilterComputerGroup {
    #[cynic(skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<cynic::Id>,
    #[cynic(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
}

/// One node of a Gateway filter tree.
#[derive(cynic::InputObject, Clone, Debug, Default, PartialEq)]
pub(crate) struct EndpointFieldFilter {
    #[cynic(skip_serializing_if = "Option::is_none")]
    pub(crate) path: Option<String>,
    #[cynic(skip_serializing_if = "Option::is_none")]
    pub(crate) member_of: Option<EndpointFieldFilterComputerGroup>,
    #[cynic(skip_serializing_if = "Option::is_none")]
    pub(crate) op: Option<FieldFilterOp>,
    #[cynic(skip_serializing_if = "Option::is_none")]
    pub(crate) negated: Option<bool>,
    #[cynic(skip_serializing_if = "Option::is_none")]
    pub(crate) value: Option<String>,
    #[cynic(skip_serializing_if = "Option::is_none")]
    pub(crate) filters: Option<Vec<EndpointFieldFilter>>,
    #[cynic(skip_serializing_if = "Option::is_none")]
    pub(crate) any: Option<bool>,
}

impl EndpointFieldFilter {
    /// Members of one computer group.
    pub(crate) fn member_of(group_id: &str) -> Self {
        Self {
            member_of: Some(EndpointFieldFilterComputerGroup {
                id: Some(cynic::Id::new(group_id)),
                name: None,
            }),
            ..Self::default()
        }
    }

    /// `path <op> value`.
    pub(crate) fn compare(path: &str, op: FieldFilterOp, value: impl Into<String>) -> Self {
        Self {
            path: Some(path.to_owned()),
            op: Some(op),
            value: Some(value.into()),
            ..Self::default()
        }
    }

    /// All of `filters`.
    pub(crate) fn all(filters: Vec<EndpointFieldFilter>) -> Self {
        Self {
            filters: Some(filters),
            any: Some(false),
            ..Self::default()
        }
    }
}

// ---- endpoints ---------------------------------------------------------------------------

#[derive(cynic::QueryVariables, Clone, Debug)]
pub(crate) struct EndpointsVariables {
    pub(crate) first: Option<i32>,
    #[cynic(skip_serializing_if = "Option::is_none")]
    pub(crate) after: Option<Cursor>,
    #[cynic(skip_serializing_if = "Option::is_none")]
    pub(crate) filter: Option<EndpointFieldFilter>,
}

#[derive(cynic::Enum, Clone, Debug, PartialEq, Eq)]
#[cynic(graphql_type = "EndpointPlatform", rename_all = "None")]
pub(crate) enum Platform {
    Unknown,
    Windows,
    Linux,
    Mac,
    Solaris,
    #[cynic(rename = "AIX")]
    Aix,
    /// A platform added by a later Gateway release.
    #[cynic(fallback)]
    Other(String),
}

#[derive(cynic::QueryFragment, Clone, Debug)]
#[cynic(graphql_type = "EndpointWindowsOS")]
pub(crate) struct WindowsOs {
    #[cynic(rename = "type")]
    pub(crate) windows_type: String,
    pub(crate) major_version: String,
    pub(crate) release_id: String,
}

#[derive(cynic::QueryFragment, Clone, Debug)]
#[cynic(graphql_type = "EndpointOS")]
pub(crate) struct Os {
    pub(crate) name: String,
    pub(crate) platform: Platform,
    pub(crate) generation: String,
    pub(crate) windows: Option<WindowsOs>,
}

#[derive(cynic::QueryFragment, Clone, Debug)]
#[cynic(graphql_type = "EndpointUser")]
pub(crate) struct User {
    pub(crate) name: String,
}

#[derive(cynic::QueryFragment, Clone, Debug)]
pub(crate) struct Memory {
    pub(crate) ram: String,
    pub(crate) total: String,
}

#[derive(cynic::QueryFragment, Clone, Debug)]
pub(crate) struct Processor {
    pub(crate) cpu: String,
    pub(crate) logical_processors: i32,
}

#[derive(cynic::QueryFragment, Clone, Debug)]
#[cynic(graphql_type = "EndpointDisk")]
pub(crate) struct Disk {
    pub(crate) name: String,
    pub(crate) free: Option<String>,
    pub(crate) total: Option<String>,
    pub(crate) used_percentage: Option<String>,
    pub(crate) used_space: Option<String>,
}

#[derive(cynic::QueryFragment, Clone, Debug)]
#[cynic(graphql_type = "EndpointInstalledApplication")]
pub(crate) struct InstalledApplication {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) uninstallable: Option<bool>,
}

/// Every endpoint field the mapping uses (installed applications are separate: they are large
/// and only fetched when asked for).
#[derive(cynic::QueryFragment, Clone, Debug)]
#[cynic(graphql_type = "Endpoint")]
pub(crate) struct EndpointFields {
    pub(crate) id: cynic::Id,
    pub(crate) name: String,
    pub(crate) domain_name: String,
    #[cynic(rename = "computerID")]
    pub(crate) computer_id: String,
    #[cynic(rename = "systemUUID")]
    pub(crate) system_uuid: String,
    pub(crate) namespace: String,
    pub(crate) serial_number: String,
    pub(crate) manufacturer: String,
    pub(crate) model: String,
    pub(crate) chassis_type: String,
    pub(crate) is_virtual: Option<bool>,
    pub(crate) is_encrypted: Option<bool>,
    pub(crate) eid_first_seen: Option<Time>,
    pub(crate) eid_last_seen: Option<Time>,
    pub(crate) ip_address: String,
    pub(crate) ip_addresses: Option<Vec<String>>,
    pub(crate) mac_addresses: Option<Vec<String>>,
    pub(crate) primary_user: User,
    pub(crate) last_logged_in_user: String,
    pub(crate) os: Os,
    pub(crate) memory: Memory,
    pub(crate) processor: Processor,
    pub(crate) disks: Option<Vec<Disk>>,
}

#[derive(cynic::QueryFragment, Clone, Debug)]
#[cynic(graphql_type = "Endpoint")]
pub(crate) struct EndpointWithSoftware {
    #[cynic(spread)]
    pub(crate) fields: EndpointFields,
    pub(crate) installed_applications: Vec<InstalledApplication>,
}

/// One endpoints query with its connection and edge types, for one node selection.
macro_rules! endpoints_query {
    ($query:ident, $connection:ident, $edge:ident, $node:ty) => {
        #[derive(cynic::QueryFragment, Debug)]
        #[cynic(graphql_type = "Query", variables = "EndpointsVariables")]
        pub(crate) struct $query {
            #[arguments(first: $first, after: $after, filter: $filter)]
            pub(crate) endpoints: Option<$connection>,
        }

        #[derive(cynic::QueryFragment, Debug)]
        #[cynic(graphql_type = "EndpointConnection")]
        pub(crate) struct $connection {
            pub(crate) total_records: i32,
            pub(crate) edges: Vec<$edge>,
            pub(crate) page_info: PageInfo,
        }

        #[derive(cynic::QueryFragment, Debug)]
        #[cynic(graphql_type = "EndpointEdge")]
        pub(crate) struct $edge {
            pub(crate) node: $node,
        }
    };
}

endpoints_query!(
    EndpointsQuery,
    EndpointConnection,
    EndpointEdge,
    EndpointFields
);
endpoints_query!(
    EndpointsWithSoftwareQuery,
    EndpointWithSoftwareConnection,
    EndpointWithSoftwareEdge,
    EndpointWithSoftware
);

#[derive(cynic::QueryVariables, Clone, Debug)]
pub(crate) struct CountVariables {
    #[cynic(skip_serializing_if = "Option::is_none")]
    pub(crate) filter: Option<EndpointFieldFilter>,
}

/// How many endpoints match a filter (a permission probe, and group membership checks).
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query", variables = "CountVariables")]
pub(crate) struct EndpointCountQuery {
    #[arguments(first: 1, filter: $filter)]
    pub(crate) endpoints: Option<EndpointCount>,
}

#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "EndpointConnection")]
pub(crate) struct EndpointCount {
    pub(crate) total_records: i32,
}

// ---- one endpoint by id --------------------------------------------------------------------

#[derive(cynic::QueryVariables, Clone, Debug)]
pub(crate) struct DeviceLookupVariables {
    pub(crate) filter: Option<EndpointFieldFilter>,
    pub(crate) groups: Option<i32>,
    #[cynic(skip_serializing_if = "Option::is_none")]
    pub(crate) groups_after: Option<Cursor>,
}

/// One endpoint by id and (in the same request) the ids of the computer groups: the 2023
/// schema's `Endpoint` has no membership field, so the scope is found by a second request
/// ([`memberships`]).
#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query", variables = "DeviceLookupVariables")]
pub(crate) struct DeviceLookupQuery {
    #[arguments(first: 1, filter: $filter)]
    pub(crate) endpoints: Option<EndpointConnection>,
    #[arguments(first: $groups, after: $groups_after)]
    pub(crate) computer_groups: Option<GroupIdConnection>,
}

#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "ComputerGroupConnection")]
pub(crate) struct GroupIdConnection {
    pub(crate) edges: Vec<GroupIdEdge>,
    pub(crate) page_info: PageInfo,
}

#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "ComputerGroupEdge")]
pub(crate) struct GroupIdEdge {
    pub(crate) node: GroupId,
}

#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "ComputerGroup")]
pub(crate) struct GroupId {
    pub(crate) id: cynic::Id,
}

/// At most this many groups are asked about in one membership request (a Gateway limits a
/// document's cost; 200 `totalRecords` counts are cheap).
pub(crate) const MEMBERSHIP_BATCH: usize = 200;

/// A document asking, for each group, whether endpoint `id` is a member: one aliased
/// `endpoints(first: 1, filter: …) { totalRecords }` per group (`g0`, `g1`, …), with the
/// filters passed as variables `$f0`, `$f1`, … (no string escaping in the document). Built at
/// run time because the number of aliases is the number of groups; checked against the
/// schema like every other operation (see [`samples`]).
pub(crate) fn memberships(id: &str, groups: &[String]) -> (String, serde_json::Value) {
    use std::fmt::Write as _;
    let mut params = String::new();
    let mut fields = String::new();
    let mut variables = serde_json::Map::new();
    for (i, group) in groups.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(params, "{sep}$f{i}: EndpointFieldFilter");
        let _ = write!(
            fields,
            " g{i}: endpoints(first: 1, filter: $f{i}) {{ totalRecords }}"
        );
        let filter = EndpointFieldFilter::all(vec![
            EndpointFieldFilter::member_of(group),
            EndpointFieldFilter::compare("id", FieldFilterOp::Eq, id),
        ]);
        variables.insert(
            format!("f{i}"),
            serde_json::to_value(filter).unwrap_or(serde_json::Value::Null),
        );
    }
    (
        format!("query EndpointMembershipsQuery({params}) {{{fields} }}"),
        serde_json::Value::Object(variables),
    )
}

// ---- identity changes --------------------------------------------------------------------

#[derive(cynic::QueryVariables, Clone, Debug)]
pub(crate) struct IdChangesVariables {
    pub(crate) after: Time,
}

#[derive(cynic::QueryFragment, Debug)]
#[cynic(graphql_type = "Query", variables = "IdChangesVariables")]
pub(crate) struct EndpointIdChangesQuery {
    #[arguments(after: $after)]
    pub(crate) endpoint_id_changes: EndpointIdChangesPayload,
}

#[derive(cynic::QueryFragment, Debug)]
pub(crate) struct EndpointIdChangesPayload {
    pub(crate) changes: Vec<EndpointIdChange>,
}

#[derive(cynic::QueryFragment, Debug)]
pub(crate) struct EndpointIdChange {
    pub(crate) old_id: cynic::Id,
    pub(crate) new_id: cynic::Id,
}

// ---- operation builders ------------------------------------------------------------------

pub(crate) fn now() -> Operation<NowQuery, ()> {
    NowQuery::build(())
}

pub(crate) fn computer_groups(
    first: i32,
    after: Option<Cursor>,
) -> Operation<ComputerGroupsQuery, PageVariables> {
    ComputerGroupsQuery::build(PageVariables {
        first: Some(first),
        after,
    })
}

pub(crate) fn endpoints(vars: EndpointsVariables) -> Operation<EndpointsQuery, EndpointsVariables> {
    EndpointsQuery::build(vars)
}

pub(crate) fn endpoints_with_software(
    vars: EndpointsVariables,
) -> Operation<EndpointsWithSoftwareQuery, EndpointsVariables> {
    EndpointsWithSoftwareQuery::build(vars)
}

pub(crate) fn endpoint_count(
    filter: Option<EndpointFieldFilter>,
) -> Operation<EndpointCountQuery, CountVariables> {
    EndpointCountQuery::build(CountVariables { filter })
}

pub(crate) fn device_lookup(
    id: &str,
    groups: i32,
    groups_after: Option<Cursor>,
) -> Operation<DeviceLookupQuery, DeviceLookupVariables> {
    DeviceLookupQuery::build(DeviceLookupVariables {
        filter: Some(EndpointFieldFilter::compare("id", FieldFilterOp::Eq, id)),
        groups: Some(groups),
        groups_after,
    })
}

pub(crate) fn endpoint_id_changes(
    after: Time,
) -> Operation<EndpointIdChangesQuery, IdChangesVariables> {
    EndpointIdChangesQuery::build(IdChangesVariables { after })
}

/// One representative request of every operation this adapter sends: name, document and
/// variables (with every kind of filter the adapter builds).
pub(crate) fn samples() -> Vec<(&'static str, String, serde_json::Value)> {
    fn sample<Q, V: serde::Serialize>(
        name: &'static str,
        op: Operation<Q, V>,
    ) -> (&'static str, String, serde_json::Value) {
        let vars = serde_json::to_value(&op.variables).unwrap_or(serde_json::Value::Null);
        (name, op.query, vars)
    }
    let since = EndpointFieldFilter::all(vec![
        EndpointFieldFilter::member_of("101"),
        EndpointFieldFilter::compare("eidLastSeen", FieldFilterOp::Gt, "2026-01-01T00:00:00Z"),
    ]);
    let page = || EndpointsVariables {
        first: Some(500),
        after: Some(Cursor("c1-1f3".into())),
        filter: Some(since.clone()),
    };
    let by_id = EndpointFieldFilter::all(vec![
        EndpointFieldFilter::member_of("101"),
        EndpointFieldFilter::compare("id", FieldFilterOp::Eq, "40231"),
    ]);
    vec![
        sample("NowQuery", now()),
        sample(
            "ComputerGroupsQuery",
            computer_groups(500, Some(Cursor("cg:4".into()))),
        ),
        sample("EndpointsQuery", endpoints(page())),
        sample(
            "EndpointsWithSoftwareQuery",
            endpoints_with_software(page()),
        ),
        sample("EndpointCountQuery", endpoint_count(Some(by_id))),
        sample(
            "DeviceLookupQuery",
            device_lookup("40231", 500, Some(Cursor("cg:4".into()))),
        ),
        {
            let (document, variables) = memberships("40231", &["101".into(), "7".into()]);
            ("EndpointMembershipsQuery", document, variables)
        },
        sample(
            "EndpointIdChangesQuery",
            endpoint_id_changes(Time("2026-01-01T00:00:00Z".into())),
        ),
    ]
}
