//! A client of containerd's CRI plugin: the gRPC API the kubelet speaks
//! (`runtime.v1`, from the `k8s-cri` crate), over the plugin's unix socket
//! (containerd's own gRPC address), for tests that act as the kubelet.
//!
//! [`CriClient`] is blocking: it owns a single-threaded tokio runtime and
//! puts a timeout on every call, so a hung plugin fails a test instead of
//! hanging it. [`CriClient::version`] and [`CriClient::status`] cover what a
//! node reports; [`CriClient::runtime`] and [`CriClient::image`] run any
//! other call of the runtime and image services (pods, containers, image
//! pulls), e.g.
//!
//! ```ignore
//! let pods = cri.runtime(|mut s| async move { s.list_pod_sandbox(ListPodSandboxRequest::default()).await })?;
//! ```
//!
//! [`runtime_handlers`] and [`cri_config`] read the handlers and the
//! plugin's effective configuration out of a verbose `Status`.
//!
//! Not part of the `integration` library: tonic, tokio and the generated
//! CRI code would then be linked, under LTO, into every test binary. A
//! test that needs the client includes this file
//! (`#[path = "../src/cri.rs"] mod cri;`) and the crates are
//! dev-dependencies, built once and linked only where used.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{StatusRequest, StatusResponse, VersionRequest, VersionResponse};
use tonic::transport::{Channel, Endpoint, Uri};

/// How long one call may take before it fails.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// A connection to a CRI endpoint (a unix socket).
pub struct CriClient {
    rt: tokio::runtime::Runtime,
    channel: Channel,
    /// The socket connected to.
    pub sock: PathBuf,
}

impl CriClient {
    /// Connects to the CRI endpoint at the unix socket `sock` (for
    /// containerd, its `[grpc] address`). The connection is made at once, so
    /// a socket nobody serves fails here.
    pub fn connect(sock: &Path) -> Result<CriClient, String> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| format!("tokio runtime: {e}"))?;
        let path = sock.to_path_buf();
        // The URI is required by tonic but unused: every connection goes to
        // the socket.
        let endpoint = Endpoint::from_static("http://cri.invalid").connect_timeout(Duration::from_secs(10));
        let connect = endpoint.connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(path).await?)) }
        }));
        let channel = rt.block_on(connect).map_err(|e| format!("connect to CRI at {}: {e}", sock.display()))?;
        Ok(CriClient { rt, channel, sock: sock.to_path_buf() })
    }

    /// Runs `call` on a RuntimeService client (pods, containers, status)
    /// and waits for it, at most [`CALL_TIMEOUT`].
    pub fn runtime<T, F>(&self, call: impl FnOnce(RuntimeServiceClient<Channel>) -> F) -> Result<T, String>
    where
        F: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.block(call(RuntimeServiceClient::new(self.channel.clone())))
    }

    /// Runs `call` on an ImageService client (pull, list, remove images)
    /// and waits for it, at most [`CALL_TIMEOUT`].
    pub fn image<T, F>(&self, call: impl FnOnce(ImageServiceClient<Channel>) -> F) -> Result<T, String>
    where
        F: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.block(call(ImageServiceClient::new(self.channel.clone())))
    }

    fn block<T>(&self, f: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>) -> Result<T, String> {
        // The timer is made inside the runtime: it needs its time driver.
        match self.rt.block_on(async { tokio::time::timeout(CALL_TIMEOUT, f).await }) {
            Ok(Ok(r)) => Ok(r.into_inner()),
            Ok(Err(status)) => Err(format!("CRI at {}: {:?}: {}", self.sock.display(), status.code(), status.message())),
            Err(_) => Err(format!("CRI at {}: no answer in {CALL_TIMEOUT:?}", self.sock.display())),
        }
    }

    /// RuntimeService `Version`: the runtime's name and version and the CRI
    /// API version it serves.
    pub fn version(&self) -> Result<VersionResponse, String> {
        self.runtime(|mut s| async move { s.version(VersionRequest { version: "v1".into() }).await })
    }

    /// RuntimeService `Status`: the RuntimeReady and NetworkReady
    /// conditions; with `verbose`, `info` holds JSON documents (for
    /// containerd: `config`, `cniconfig`, `golang`, ...).
    pub fn status(&self, verbose: bool) -> Result<StatusResponse, String> {
        self.runtime(|mut s| async move { s.status(StatusRequest { verbose }).await })
    }
}

/// Whether the condition `kind` (`RuntimeReady`, `NetworkReady`) of a
/// `Status` holds; None when the status does not list it.
pub fn condition(status: &StatusResponse, kind: &str) -> Option<bool> {
    status.status.as_ref()?.conditions.iter().find(|c| c.r#type == kind).map(|c| c.status)
}

/// The CRI plugin's effective configuration from a verbose `Status`
/// (containerd's `info["config"]`, JSON with Go field names such as
/// `containerd.runtimes.<handler>.runtimeType`).
pub fn cri_config(status: &StatusResponse) -> Result<serde_json::Value, String> {
    let text =
        status.info.get("config").ok_or_else(|| format!("Status info has no `config` (not verbose?): keys {:?}", status.info.keys().collect::<Vec<_>>()))?;
    serde_json::from_str(text).map_err(|e| format!("Status info `config` is not JSON: {e}"))
}

/// The runtime handlers a verbose `Status` names: its `runtime_handlers`
/// when the runtime fills them (CRI 1.30+: containerd 2), else the keys of
/// [`cri_config`]'s `containerd.runtimes` (containerd 1.6 and 1.7).
pub fn runtime_handlers(status: &StatusResponse) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = status.runtime_handlers.iter().map(|h| h.name.clone()).filter(|n| !n.is_empty()).collect();
    if names.is_empty() {
        let config = cri_config(status)?;
        let runtimes = config["containerd"]["runtimes"].as_object().ok_or("Status config has no containerd.runtimes")?;
        names = runtimes.keys().cloned().collect();
    }
    names.sort();
    Ok(names)
}
