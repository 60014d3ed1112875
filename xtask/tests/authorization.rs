//! Who may do what, walked whole: every function the clients call, by no
//! one and by each role, on one's own booking and on another's, with real
//! tokens from a real issuer against real PostgreSQL and Redis. Each answer
//! is the one the access matrix of docs/architecture.md gives.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use shared::testing::{
    Issuer, ReadResponse, TestApp, TestDb, TestRedis, TestResponse, binary_event, closed_url,
};

/// The callers, in the order of each row's expected statuses.
const CALLERS: [&str; 6] = ["nobody", "pia", "ola", "agent", "admin", "operator"];

fn roles(caller: &str) -> &'static [&'static str] {
    match caller {
        "pia" | "ola" => &["passenger"],
        "agent" => &["agent"],
        "admin" => &["admin"],
        "operator" => &["operator"],
        _ => &[],
    }
}

struct World {
    issuer: Issuer,
    db: TestDb,
    redis: TestRedis,
    apps: BTreeMap<&'static str, TestApp>,
}

impl World {
    async fn new() -> World {
        let (issuer, db, redis) = (Issuer::start().await, TestDb::new().await, TestRedis::new().await);
        let mut world = World { issuer, db, redis, apps: BTreeMap::new() };
        for function in catalogue::functions().into_iter().map(|f| f.function) {
            let name = function.spec.name;
            let mut settings = world.issuer.settings();
            settings.extend([
                ("database_url", world.db.url()),
                ("redis_url", world.redis.url.clone()),
                // No broker here: the events stay in the outbox.
                ("k_sink", closed_url().await),
            ]);
            let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
            world.apps.insert(name, TestApp::spawn_with(function, &settings).await);
        }
        world
    }

    async fn call(&self, function: &str, caller: &str, data: &Value) -> TestResponse {
        let mut request = self.apps[function].post().json(data);
        if caller != "nobody" {
            request = request.bearer_auth(self.issuer.token(caller, roles(caller)));
        }
        request.send().await.read().await
    }

    /// The passengers' names of the bookings `caller` lists.
    async fn listed(&self, caller: &str) -> Vec<String> {
        let page = self.call("list-bookings", caller, &json!({})).await.expect(200).json();
        let items = page["items"].as_array().cloned().unwrap_or_default();
        items.iter().map(|b| b["passenger_name"].as_str().unwrap_or_default().to_owned()).collect()
    }

    /// Calls `function` as each caller, with the data `data` gives for it,
    /// and checks the statuses against `expected`.
    async fn walk(&self, function: &str, expected: [u16; 6], data: impl Fn(&str) -> Value) {
        let mut got = Vec::new();
        for caller in CALLERS {
            got.push(self.call(function, caller, &data(caller)).await.status);
        }
        assert_eq!(got, expected, "{function}, as {CALLERS:?}");
    }
}

#[tokio::test]
async fn every_function_answers_every_role_as_the_matrix_says() {
    let w = World::new().await;
    let id = |r: TestResponse| r.expect(200).json()["id"].as_str().unwrap().to_owned();

    // The catalogue: written by admins, read by anyone.
    w.walk(
        "create-destination",
        [401, 403, 403, 403, 200, 403],
        |c| json!({"name": format!("D-{c}"), "tax_amount": "5"}),
    )
    .await;
    let dest = id(w
        .call(
            "create-destination",
            "admin",
            &json!({"name": "Lima", "tax_amount": "50", "is_promotion": true}),
        )
        .await);
    w.walk("update-destination", [401, 403, 403, 403, 200, 403], |_| json!({"id": dest, "tax_amount": "50"}))
        .await;
    let flight_of = |c: &str| {
        let number = if c == "main" { "SK200" } else { "SK100" };
        json!({"destination_id": dest, "flight_number": number, "base_price": "1000",
               "departure_at": "2030-01-01T10:00:00Z", "capacity": 50})
    };
    w.walk("create-flight", [401, 403, 403, 403, 200, 403], flight_of).await;
    let flight = id(w.call("create-flight", "admin", &flight_of("main")).await);
    w.walk("list-destinations", [200; 6], |_| json!({})).await;
    w.walk("list-flights", [200; 6], |_| json!({})).await;
    w.walk("get-flight", [200; 6], |_| json!({"id": flight})).await;

    // Bookings: a passenger books for themself; an agent for a named passenger.
    let booking =
        |c: &str| json!({"flight_id": flight, "passenger_name": format!("P {c}"), "passenger_age": 8});
    w.walk("create-booking", [401, 200, 200, 422, 403, 403], booking).await;
    let for_pia =
        json!({"flight_id": flight, "passenger_name": "Pia", "passenger_age": 8, "passenger_subject": "pia"});
    assert_eq!(w.call("create-booking", "ola", &for_pia).await.expect(403).error_code(), "forbidden");
    let pias = id(w.call("create-booking", "agent", &for_pia).await);
    let price =
        w.call("get-booking", "pia", &json!({"id": pias})).await.expect(200).json()["price"]["total"].clone();
    assert_eq!(price, json!("950.00"), "the agent's booking is pia's, at the rule's price");

    // Read and listed by its owner, agents and admins; another passenger's is 404.
    w.walk("get-booking", [401, 200, 404, 200, 200, 403], |_| json!({"id": pias})).await;
    w.walk("list-bookings", [401, 200, 200, 200, 200, 403], |_| json!({})).await;
    assert_eq!(w.listed("pia").await, ["P pia", "Pia"], "a passenger lists their own bookings only");
    assert_eq!(w.listed("ola").await, ["P ola"]);
    assert_eq!(w.listed("agent").await.len(), 3, "an agent lists every booking");
    let filtered =
        w.call("list-bookings", "agent", &json!({"passenger_subject": "pia"})).await.expect(200).json();
    assert_eq!(filtered["items"].as_array().unwrap().len(), 2);
    // Cancelled by its owner, an agent or an admin; another passenger cannot, nor see it.
    w.walk("cancel-booking", [401, 200, 404, 200, 200, 403], |_| json!({"id": pias})).await;

    // Stats: aggregates for anyone, the candy log's names for operators and admins.
    w.walk("get-stats", [200, 200, 200, 200, 200, 200], |_| json!({})).await;
    w.walk("get-stats", [403, 403, 403, 403, 200, 200], |_| json!({"candy_log": 5})).await;
    for caller in CALLERS {
        let stats = w.call("get-stats", caller, &json!({})).await.expect(200).json();
        let names_shown = stats.get("candy_log").is_some();
        assert_eq!(names_shown, matches!(caller, "admin" | "operator"), "{caller}: {stats}");
        assert!(!stats.to_string().contains("Pia"), "{caller} sees a child's name in {stats}");
    }

    // Operations: dead letters for operators.
    w.walk("list-dead-letters", [401, 403, 403, 403, 403, 200], |_| json!({})).await;
    w.walk("replay-dead-letters", [401, 403, 403, 403, 403, 200], |_| json!({"all": true})).await;

    // The AI: any signed-in role (not configured here: 503 past the check).
    w.walk("ai-chat", [401, 503, 503, 503, 503, 503], |_| json!({"question": "¿Hay vuelos?"})).await;
    w.walk("suggest-price", [401, 200, 200, 200, 200, 200], |_| json!({"flight_id": flight})).await;
}

#[tokio::test]
async fn a_rebuild_of_the_stats_is_an_operators_and_sent_directly() {
    let w = World::new().await;
    let rebuild = |caller: &str, id: &str| {
        let mut request =
            binary_event(w.apps["reconcile-stats"].post(), "skybook.stats.rebuild", "/ops", id, &json!({}));
        if caller != "nobody" {
            request = request.bearer_auth(w.issuer.token(caller, roles(caller)));
        }
        request
    };
    let mut got = Vec::new();
    for (i, caller) in CALLERS.iter().enumerate() {
        got.push(rebuild(caller, &format!("r{i}")).send().await.read().await.status);
    }
    assert_eq!(got, [401, 403, 403, 403, 403, 202], "rebuild, as {CALLERS:?}");
    // In structured mode the type is in the body, read after the sender's
    // check: a rebuild there is refused, whoever sends it.
    let structured =
        json!({"specversion": "1.0", "id": "s1", "source": "/ops", "type": "skybook.stats.rebuild"});
    let refused = w.apps["reconcile-stats"]
        .post()
        .bearer_auth(w.issuer.token("operator", &["operator"]))
        .header("content-type", "application/cloudevents+json")
        .body(structured.to_string())
        .send()
        .await
        .read()
        .await;
    assert_eq!(refused.expect(403).error_code(), "forbidden");
    // The PingSource's tick is no control event: the Broker's path.
    let tick =
        binary_event(w.apps["reconcile-stats"].post(), "dev.knative.sources.ping", "/ping", "t1", &json!({}));
    assert_eq!(tick.send().await.read().await.status, 202);
}

#[tokio::test]
async fn one_callers_idempotency_key_never_answers_another() {
    let w = World::new().await;
    let dest = w.call("create-destination", "admin", &json!({"name": "Cusco", "tax_amount": "0"})).await;
    let dest = dest.expect(200).json()["id"].as_str().unwrap().to_owned();
    let flight = json!({"destination_id": dest, "flight_number": "SK9", "base_price": "100",
                        "departure_at": "2030-01-01T10:00:00Z", "capacity": 5});
    let flight =
        w.call("create-flight", "admin", &flight).await.expect(200).json()["id"].as_str().unwrap().to_owned();
    let data = json!({"flight_id": flight, "passenger_name": "Same", "passenger_age": 30});
    let book = |caller: &str| {
        w.apps["create-booking"]
            .post()
            .bearer_auth(w.issuer.token(caller, &["passenger"]))
            .header("idempotency-key", "checkout-1")
            .json(&data)
            .send()
    };
    let pia = book("pia").await.read().await.expect(200).json();
    let ola = book("ola").await.read().await.expect(200).json();
    assert_ne!(pia["id"], ola["id"], "ola was answered with pia's booking");
    let again = book("pia").await.read().await.expect(200).json();
    assert_eq!(again["id"], pia["id"], "pia's retry is answered with her first booking");
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM bookings").fetch_one(&w.db.pool).await.unwrap();
    assert_eq!(count, 2);
    drop(w.redis);
}

#[tokio::test]
async fn a_person_signs_in_through_the_code_flow_and_the_functions_take_the_token() {
    let w = World::new().await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    // RFC 7636, appendix B: a verifier and its S256 challenge.
    let (verifier, challenge) =
        ("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    let back = "http%3A%2F%2F127.0.0.1%3A1%2Fsigned-in";
    let issuer = &w.issuer.url;
    let discovery: Value = http
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["authorization_endpoint"], format!("{issuer}/authorize"));
    assert_eq!(discovery["code_challenge_methods_supported"], json!(["S256"]));

    let page = http
        .get(format!(
            "{issuer}/authorize?response_type=code&client_id=skybook-web&redirect_uri={back}\
             &code_challenge={challenge}&code_challenge_method=S256&state=s1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<label for=\"sub\">") && html.contains("value=\"passenger\""), "{html}");

    let sign_in = |sub: &'static str| {
        http.post(format!("{issuer}/authorize"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "sub={sub}&role=passenger&client_id=skybook-web&redirect_uri={back}&code_challenge={challenge}&state=s1"
            ))
            .send()
    };
    let redirected = sign_in("pia").await.unwrap();
    assert_eq!(redirected.status(), 302);
    let location = redirected.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("http://127.0.0.1:1/signed-in?code=") && location.ends_with("&state=s1"),
        "{location}"
    );
    let code = location.split("code=").nth(1).unwrap().split('&').next().unwrap().to_owned();

    let exchange = |code: String, verifier: &'static str| {
        http.post(format!("{issuer}/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=authorization_code&code={code}&redirect_uri={back}&client_id=skybook-web&code_verifier={verifier}"
            ))
            .send()
    };
    let tokens = exchange(code.clone(), verifier).await.unwrap();
    assert_eq!(tokens.status(), 200);
    assert_eq!(tokens.headers()["access-control-allow-origin"], "*");
    let tokens: Value = tokens.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    // The token is the functions' as any issuer's: pia lists her bookings (none yet).
    let listed = w.apps["list-bookings"]
        .post()
        .bearer_auth(&access)
        .header("content-type", "application/json")
        .body("{}");
    let listed = listed.send().await.read().await.expect(200).json();
    assert_eq!(listed["items"], json!([]));
    // A code is traded once, and only with its verifier.
    assert_eq!(exchange(code, verifier).await.unwrap().status(), 400);
    let other = sign_in("ola").await.unwrap().headers()["location"].to_str().unwrap().to_owned();
    let other = other.split("code=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    let wrong = exchange(other, "not-the-verifier-not-the-verifier-not-the-verifier").await.unwrap();
    assert_eq!(wrong.status(), 400);
    let wrong: Value = wrong.json().await.unwrap();
    assert_eq!(wrong["error"], "invalid_grant");
}
