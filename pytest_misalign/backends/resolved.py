"""`ResolvedModel`: where a model comes from and how to load it (`resolve.resolve_model` makes one)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model comes from and how to load it.

    kind:        "embedded" | "gguf" | "local" | "hub"
    name:        the user's string (ModelConfig.model)
    load_path:   what to pass to `from_pretrained`: a local directory or a hub id
    source:      for reports: the GGUF file, the local directory, or the hub id
    revision:    hub commit hash when known (else the user's revision), None for local files
    fingerprint: stable hex id of the weights + tokenizer (GGUF sha256, local-dir digest, or hub
                 commit hash); None when it cannot be known before loading
    local_files_only: load without network (hub ids in offline mode, everything local)
    """

    kind: str
    name: str
    load_path: str
    source: str
    revision: str | None = None
    fingerprint: str | None = None
    local_files_only: bool = True
    extra: dict = field(default_factory=dict)
