"""The command line that runs each server."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import uuid

from launcher.common import HERE, HOST, StartError, java_bin, render
from launcher.service import Service


def kafka_command(svc: Service) -> list[str]:
    lib = svc.home / "lib"
    conf = svc.home / "conf"
    render(
        HERE / "kafka" / "server.properties",
        conf / "server.properties",
        kafka_port=svc.port,
        controller_port=svc.extra["controller_port"],
        log_dirs=svc.data_dir,
    )
    shutil.copyfile(HERE / "kafka" / "log4j.properties", conf / "log4j.properties")
    java = java_bin()
    if not (svc.data_dir / "meta.properties").exists():
        cluster_file = svc.home / "cluster.id"
        if not cluster_file.exists():
            while True:  # a Kafka Uuid: 16 random bytes, url-safe base64 without padding
                cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
                if not cid.startswith("-"):
                    break
            cluster_file.write_text(cid + "\n")
        cid = cluster_file.read_text().strip()
        svc.data_dir.mkdir(parents=True, exist_ok=True)
        with open(svc.stdout_path, "ab") as log:
            rc = subprocess.run(
                [
                    java,
                    "-Xmx256m",
                    f"-Dlog4j.configuration=file:{conf / 'log4j.properties'}",
                    f"-Dkafka.logs.dir={svc.log_dir}",
                    "-cp",
                    f"{lib}/*",
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cid,
                    "-c",
                    str(conf / "server.properties"),
                    "--ignore-formatted",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                check=False,
            ).returncode
        if rc != 0:
            raise StartError(f"kafka storage format failed (exit {rc}); see {svc.stdout_path}")
    heap = str(svc.extra["heap"])
    return [
        java,
        f"-Xms{heap}",
        f"-Xmx{heap}",
        "-server",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:InitiatingHeapOccupancyPercent=35",
        "-XX:+ExplicitGCInvokesConcurrent",
        "-XX:MaxInlineLevel=15",
        "-Djava.awt.headless=true",
        f"-XX:ErrorFile={svc.log_dir}/hs_err_pid%p.log",
        f"-Dlog4j.configuration=file:{conf / 'log4j.properties'}",
        f"-Dkafka.logs.dir={svc.log_dir}",
        "-cp",
        f"{lib}/*",
        "kafka.Kafka",
        str(conf / "server.properties"),
    ]


def cassandra_command(svc: Service) -> list[str]:
    lib = svc.home / "lib"
    conf = svc.home / "conf"
    render(
        HERE / "cassandra" / "cassandra.yaml",
        conf / "cassandra.yaml",
        cql_port=svc.port,
        storage_port=svc.extra["storage_port"],
        storage_dir=svc.data_dir,
    )
    shutil.copyfile(HERE / "cassandra" / "logback.xml", conf / "logback.xml")
    tmp = svc.home / "tmp"
    (tmp / "jna").mkdir(parents=True, exist_ok=True)
    svc.data_dir.mkdir(parents=True, exist_ok=True)
    options = [
        line.strip()
        for line in (HERE / "cassandra" / "jvm-server.options").read_text().splitlines()
        if line.strip().startswith("-")
    ]
    jamm = sorted(lib.glob("jamm-*.jar"))
    heap = str(svc.extra["heap"])
    # Cassandra always calls mlockall(MCL_CURRENT); as root (CAP_IPC_LOCK) that succeeds and
    # faults in the whole heap first: ~5 s of a 2-core start and 1 GB RSS up front. Without the
    # capability it fails on RLIMIT_MEMLOCK, Cassandra logs a warning and carries on.
    no_mlock = (
        ["setpriv", "--inh-caps=-ipc_lock", "--bounding-set=-ipc_lock", "--"]
        if os.geteuid() == 0 and shutil.which("setpriv")
        else []
    )
    return [
        *no_mlock,
        java_bin(),
        f"-Xms{heap}",
        f"-Xmx{heap}",
        *options,
        *([f"-javaagent:{jamm[-1]}"] if jamm else []),
        f"-XX:HeapDumpPath={svc.log_dir}",
        f"-XX:ErrorFile={svc.log_dir}/hs_err_pid%p.log",
        f"-Djava.io.tmpdir={tmp}",
        f"-Djna.tmpdir={tmp / 'jna'}",
        f"-Dio.netty.native.workdir={tmp}",
        f"-Dcassandra.config=file://{conf / 'cassandra.yaml'}",
        f"-Dcassandra.storagedir={svc.data_dir}",
        f"-Dcassandra.logdir={svc.log_dir}",
        f"-Dlogback.configurationFile={conf / 'logback.xml'}",
        "-cp",
        f"{lib}/*",
        "org.apache.cassandra.service.CassandraDaemon",
    ]


def weaviate_command(svc: Service) -> tuple[list[str], dict[str, str]]:
    env_file = svc.home / "conf" / "weaviate.env"
    svc.data_dir.mkdir(parents=True, exist_ok=True)
    render(HERE / "weaviate" / "weaviate.env", env_file, data_dir=svc.data_dir, **svc.extra)
    env = dict(os.environ)
    for line in env_file.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    binary = svc.cache / "bin" / "weaviate-server"
    return [str(binary), "--host", HOST, "--port", str(svc.port), "--scheme", "http"], env


