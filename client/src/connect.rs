//! Opens a channel to the server and attaches the caller's bearer token to
//! every request.

use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

/// Default server address, the server's default listen address.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";
/// Largest answer a client accepts; revisions carry their SQL.
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Adds `authorization: Bearer <token>` when a token is configured.
#[derive(Clone)]
pub struct BearerToken(Option<MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

pub type Authed = InterceptedService<Channel, BearerToken>;

/// One connection, shared by every service client.
#[derive(Clone)]
pub struct Connection {
    channel: Channel,
    token: BearerToken,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid server address '{0}': expected e.g. http://127.0.0.1:50051")]
    BadAddress(String),
    #[error("the token is not a valid header value (it must be ASCII)")]
    BadToken,
    #[error("cannot reach the server at {server}: {}", crate::exit::causes(source))]
    Unreachable {
        server: String,
        source: tonic::transport::Error,
    },
}

impl Connection {
    /// Connects to `server`, a URL; a bare `host:port` means plain HTTP/2
    /// (`http://host:port`), as the server listens by default.
    pub async fn open(server: &str, token: Option<&str>) -> Result<Connection, ConnectError> {
        let server = if server.contains("://") {
            server.to_string()
        } else {
            format!("http://{server}")
        };
        let server = server.as_str();
        let endpoint = Endpoint::from_shared(server.to_string())
            .map_err(|_| ConnectError::BadAddress(server.to_string()))?
            .connect_timeout(std::time::Duration::from_secs(5));
        let token = match token.map(str::trim).filter(|t| !t.is_empty()) {
            Some(token) => Some(
                format!("Bearer {token}")
                    .parse()
                    .map_err(|_| ConnectError::BadToken)?,
            ),
            None => None,
        };
        let channel = endpoint
            .connect()
            .await
            .map_err(|source| ConnectError::Unreachable {
                server: server.to_string(),
                source,
            })?;
        Ok(Connection {
            channel,
            token: BearerToken(token),
        })
    }

    fn authed(&self) -> Authed {
        InterceptedService::new(self.channel.clone(), self.token.clone())
    }

    pub fn catalog(&self) -> crate::v1::catalog_client::CatalogClient<Authed> {
        crate::v1::catalog_client::CatalogClient::new(self.authed())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    pub fn policy(&self) -> crate::v1::policy_client::PolicyClient<Authed> {
        crate::v1::policy_client::PolicyClient::new(self.authed())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    pub fn audit(&self) -> crate::v1::audit_client::AuditClient<Authed> {
        crate::v1::audit_client::AuditClient::new(self.authed())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    pub fn fleet(&self) -> crate::v1::fleet_client::FleetClient<Authed> {
        crate::v1::fleet_client::FleetClient::new(self.authed())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    pub fn approvals(&self) -> crate::v1::approvals_client::ApprovalsClient<Authed> {
        crate::v1::approvals_client::ApprovalsClient::new(self.authed())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    pub fn gate(&self) -> crate::v1::gate_client::GateClient<Authed> {
        crate::v1::gate_client::GateClient::new(self.authed())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    pub fn execution(&self) -> crate::v1::execution_client::ExecutionClient<Authed> {
        crate::v1::execution_client::ExecutionClient::new(self.authed())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    pub fn onboarding(&self) -> crate::v1::onboarding_client::OnboardingClient<Authed> {
        crate::v1::onboarding_client::OnboardingClient::new(self.authed())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
    }

    pub fn health(&self) -> tonic_health::pb::health_client::HealthClient<Channel> {
        tonic_health::pb::health_client::HealthClient::new(self.channel.clone())
    }
}
