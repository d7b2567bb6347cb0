"""Real servers on loopback: does the scripted model of a server hold?

``_registry`` names the servers and how each is launched; ``_process`` starts one in its own process
group and always stops it; ``_child`` is that process (``python -m harness.servers._child``), which
wraps the app in ``_recorder`` so a real run is classified like a scripted one; ``_rawclient`` plays
a client script over a raw socket; ``_probes`` measures each claim of a profile; ``_check`` runs one
agreement cell (real requests beside scripted runs); ``_fit`` fits a profile's delay distribution to
those cells. Importing this package starts nothing and
imports no server: each is imported in the process that runs it.
"""

from harness.servers._check import CheckConfig, check_cell, installed_servers, scripted_twin
from harness.servers._check import main as check_main
from harness.servers._fit import Fit, FitCell, cells_from_agreement, fit_weights
from harness.servers._probes import run_probe
from harness.servers._process import TOKEN_VAR, ServerProcess, running_servers, server_errors, stop_on_sigterm
from harness.servers._rawclient import ClientResult, play
from harness.servers._recorder import Recorder, ScaledBackend
from harness.servers._registry import SERVERS, ServerSpec, get_server, server_requirements

__all__ = [
    "SERVERS",
    "TOKEN_VAR",
    "CheckConfig",
    "ClientResult",
    "Fit",
    "FitCell",
    "Recorder",
    "ScaledBackend",
    "ServerProcess",
    "ServerSpec",
    "cells_from_agreement",
    "check_cell",
    "check_main",
    "fit_weights",
    "get_server",
    "installed_servers",
    "play",
    "run_probe",
    "running_servers",
    "scripted_twin",
    "server_errors",
    "server_requirements",
    "stop_on_sigterm",
]
