//! `cross_provider_matching = true` in the config: a machine that Tanium and Tactical RMM both
//! report (same serial number) is one asset with a mapping from each integration; a serial that
//! two Tanium assets share is reported as `ambiguous` and nothing is guessed.

use std::collections::{HashMap, HashSet};

use rmm_sync::testkit::TacticalSim;
use rmm_sync::testkit::tanium::{SimConfig, TaniumGatewaySim};
use serde_json::{Value, json};

use super::support::{Setup, TOKEN_VAR, TempDir};

const TOKEN: &str = "token-cross-provider-0123";
const SHARED: &str = "DUPSERIAL-7";

/// (asset id → rmm device id) of the assets one integration maps.
async fn assets_of(setup: &Setup, integration: &str) -> HashMap<String, String> {
    let doc = setup
        .json(&["devices", "list", "--integration", integration])
        .await;
    doc.as_array()
        .expect("an array")
        .iter()
        .map(|d| {
            (
                d["asset"]["asset_id"]
                    .as_str()
                    .expect("asset_id")
                    .to_owned(),
                d["asset"]["rmm_device_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

fn count(report: &Value, key: &str) -> u64 {
    report["counts"][key].as_u64().expect(key)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_second_provider_attaches_to_the_first_providers_asset_and_ambiguity_is_reported() {
    let mut config = SimConfig::new(12, 2, 3);
    config.token = TOKEN.into();
    let tanium = TaniumGatewaySim::start(config).await.expect("tanium sim");
    let tactical = TacticalSim::builder()
        .agents(6)
        .clients(1)
        .seed(3)
        .api_key(TOKEN)
        .start()
        .await;

    let eids = tanium.endpoint_ids();
    let (matched, twins) = (&eids[0], [&eids[1], &eids[2]]);
    let matched_serial = tanium.endpoint(matched).expect("endpoint").serial_number;
    for eid in twins {
        tanium.update_endpoint(eid, |e| e.serial_number = SHARED.into());
    }
    let agents = tactical.agents();
    for (i, agent) in agents.iter().enumerate() {
        let serial = match i {
            0 => matched_serial.clone(),
            1 => SHARED.to_owned(),
            _ => format!("TACTICAL-ONLY-{i:04}"),
        };
        tactical.update_agent(&agent.agent_id, |a| {
            a.plat = "linux".into();
            a.wmi_detail = Some(json!({ "serialnumber": serial }));
        });
    }

    let dir = TempDir::new();
    let text = format!(
        r#"store = "sqlite://{db}"
cross_provider_matching = true

[[integrations]]
id = "tanium"
provider = "tanium"
url = "{tanium_url}"
token_env = "{TOKEN_VAR}"

[[integrations]]
id = "tactical"
provider = "tacticalrmm"
url = "{tactical_url}"
token_env = "{TOKEN_VAR}"
"#,
        db = dir.join("x.db").display(),
        tanium_url = tanium.url(),
        tactical_url = tactical.url(),
    );
    let setup = Setup::with_text(dir, &text, Some(TOKEN));
    setup.json(&["scopes", "sync"]).await;
    for integration in ["tanium", "tactical"] {
        setup
            .json(&["scopes", "map", "--integration", integration, "--auto"])
            .await;
    }

    let first = setup.json(&["sync", "--integration", "tanium"]).await;
    assert_eq!(count(&first[0], "created"), 12, "{first:#}");
    let tanium_assets = assets_of(&setup, "tanium").await;
    let matched_asset = tanium_assets
        .iter()
        .find(|(_, device)| *device == matched)
        .map(|(asset, _)| asset.clone())
        .expect("the matched endpoint's asset");

    let second = setup.json(&["sync", "--integration", "tactical"]).await;
    let report = &second[0];
    assert_eq!(report["status"], "completed", "{report:#}");
    assert_eq!(count(report, "ambiguous"), 1, "{report:#}");
    assert_eq!(
        count(report, "created"),
        4,
        "only the machines Tanium does not know are new assets: {report:#}"
    );
    assert_eq!(count(report, "seen"), 6, "{report:#}");

    let tactical_assets = assets_of(&setup, "tactical").await;
    assert_eq!(
        tactical_assets.len(),
        5,
        "the ambiguous agent is not stored"
    );
    let shared: HashSet<&String> = tactical_assets
        .keys()
        .filter(|a| tanium_assets.contains_key(*a))
        .collect();
    assert_eq!(
        shared,
        HashSet::from([&matched_asset]),
        "the agent with the matched serial attached to the Tanium endpoint's asset"
    );
    let after_tanium = assets_of(&setup, "tanium").await;
    assert_eq!(
        after_tanium.len(),
        12,
        "Tanium's assets are all still there"
    );
}
