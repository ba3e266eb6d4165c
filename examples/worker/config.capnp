# workerd configuration: the bundled Worker on 127.0.0.1:8788, the gateway's URL and token from the environment.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    # workerd's default network reaches public addresses only; the gateway is usually on a private one.
    (name = "network", network = (allow = ["local", "private", "public"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:8788", http = (), service = "main")],
);

const worker :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "dist/worker.js")],
  compatibilityDate = "2025-09-01",
  bindings = [
    (name = "FINORA_GATEWAY_URL", fromEnvironment = "FINORA_GATEWAY_URL"),
    (name = "FINORA_INTERNAL_TOKEN", fromEnvironment = "FINORA_INTERNAL_TOKEN"),
  ],
  globalOutbound = "network",
);
