//! A bare-hands Partner Center client, for testing the emulator's contract over real HTTP.

use serde_json::Value;

use super::sheets::ADATUM;

/// A bare-hands Partner Center client for testing the emulator's contract over real HTTP.
pub struct Pc {
    pub http: reqwest::Client,
    pub base: String,
    pub tenant: String,
}

/// What a call returned.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// The Partner Center error code of an error body.
    pub fn code(&self) -> u64 {
        self.json()["code"]
            .as_u64()
            .unwrap_or_else(|| panic!("no code in {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

pub const PC_SCOPE: &str =
    "https://api.partnercenter.microsoft.com/user_impersonation offline_access";

impl Pc {
    pub fn new(emulator: &csp_onboard::emulator::Emulator) -> Pc {
        Pc {
            http: reqwest::Client::new(),
            base: emulator.url().to_string(),
            tenant: emulator.tenant().to_string(),
        }
    }

    pub async fn form(&self, path: &str, form: &[(&str, &str)]) -> Reply {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        Self::reply(response).await
    }

    /// Exchanges a refresh token at the v2 endpoint; returns (access, refresh).
    pub async fn redeem(&self, refresh_token: &str) -> (String, String) {
        let reply = self
            .form(
                &format!("/{}/oauth2/v2.0/token", self.tenant),
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", "test-client"),
                    ("refresh_token", refresh_token),
                    ("scope", PC_SCOPE),
                ],
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let body = reply.json();
        (
            body["access_token"].as_str().unwrap().to_string(),
            body["refresh_token"].as_str().unwrap().to_string(),
        )
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        request_id: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("Accept", "application/json")
            .header("MS-CorrelationId", "c0ffee00-0000-4000-8000-000000000001");
        if let Some(id) = request_id {
            request = request.header("MS-RequestId", id);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        Self::reply(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(reqwest::Method::GET, path, token, None, None)
            .await
    }

    pub async fn create(&self, token: &str, body: &Value) -> Reply {
        let id = uuid::Uuid::new_v4().to_string();
        self.call(
            reqwest::Method::POST,
            "/v1/customers",
            token,
            Some(&id),
            Some(body),
        )
        .await
    }

    async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        Reply {
            status,
            headers,
            text,
        }
    }
}

/// A create-customer body (camelCase) for a US customer of the Adatum reseller.
pub fn create_body(prefix: &str) -> Value {
    serde_json::json!({
        "companyProfile": {"domain": format!("{prefix}.onmicrosoft.com")},
        "billingProfile": {
            "email": "gena@wingtiptoys.com", "culture": "en-US", "language": "en",
            "companyName": "Wingtip Toys",
            "defaultAddress": {
                "firstName": "Gena", "lastName": "Soto", "addressLine1": "One Microsoft Way",
                "city": "Redmond", "state": "WA", "postalCode": "98052", "country": "US",
                "phoneNumber": "4255550101"
            }
        },
        "associatedPartnerId": ADATUM
    })
}
