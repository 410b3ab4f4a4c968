"""Runs tritonclient.grpc against a bnns-server in a process of its own, for test_kserve.py.

Its own process because tritonclient.grpc and bnns.server both define the protocol's messages
(package `inference`) in protobuf's default descriptor pool, which refuses a second definition
of a name: the two cannot be imported into one Python process. A real client is another
process anyway.

stdin: {"target", "model", "version", "headers", "inputs": {name: {"shape", "datatype", "data"}},
"outputs": [names]}; stdout: {"live", "ready", "server", "model_ready", "metadata", "outputs":
{name: {"shape", "datatype", "data"}}} or {"error": message}.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException


def main() -> int:
    job = json.load(sys.stdin)
    client = triton.InferenceServerClient(job["target"])
    headers = job.get("headers") or None          # e.g. {"authorization": "Bearer <token>"}
    result: dict = {"live": client.is_server_live(), "ready": client.is_server_ready(),
                    "server": client.get_server_metadata(as_json=True)}
    try:
        result["model_ready"] = client.is_model_ready(job["model"], job.get("version", ""), headers=headers)
        result["metadata"] = client.get_model_metadata(job["model"], job.get("version", ""), headers=headers,
                                                       as_json=True)
        inputs = []
        for name, tensor in job["inputs"].items():
            item = triton.InferInput(name, tensor["shape"], tensor["datatype"])
            item.set_data_from_numpy(np.asarray(tensor["data"], np.float32).reshape(tensor["shape"]))
            inputs.append(item)
        outputs = [triton.InferRequestedOutput(name) for name in job.get("outputs", [])] or None
        answer = client.infer(job["model"], inputs, model_version=job.get("version", ""), outputs=outputs,
                              headers=headers)
        result["outputs"] = {o["name"]: {"shape": [int(d) for d in o["shape"]], "datatype": o["datatype"],
                                         "data": answer.as_numpy(o["name"]).reshape(-1).tolist()}
                             for o in answer.get_response(as_json=True)["outputs"]}
    except InferenceServerException as error:
        result["error"] = error.message()
        result["status"] = error.status()
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
