"""Turn one run's result into the issue's ratios, a Markdown table and a PNG chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import soak

ROOMKEY = "roomkey"
ROOMKEY_PUSHER = "roomkey (Pusher protocol)"
AIOHTTP = "aiohttp WebSocket loop"
SIO = "python-socketio room emit"
TWO_NODES = "roomkey, 2 nodes + Redis"
TWO_NODES_CLUSTER = "roomkey, 2 nodes + Redis Cluster (3 masters)"
WORKERS_1 = "roomkey --workers 1 (Redis)"
WORKERS_2 = "roomkey --workers 2 (Redis)"
WORKERS_AUTH_1 = "roomkey private, --workers 1 (Redis)"
WORKERS_AUTH_2 = "roomkey private, --workers 2 (Redis)"
ECHO = "laravel-echo-server"


def _fanout(result: dict[str, Any], target: str, n: int, mode: str) -> dict[str, Any] | None:
    for row in result["fanout"]:
        if row["target"] == target and row["subscribers"] == n and row["mode"] == mode:
            return dict(row)
    return None


def _connect(result: dict[str, Any], target: str, n: int, deflate: bool) -> dict[str, Any] | None:
    for row in result["connect"]:
        if row["target"] == target and row["clients"] == n and row["deflate_offered"] == deflate:
            return dict(row)
    return None


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


def _vs_peer(result: dict[str, Any], n: int) -> dict[str, Any]:
    """roomkey (both transports) over laravel-echo-server at ``n`` subscribers: burst
    deliveries/s (higher is better for roomkey) and paced p99 (lower is better)."""
    out: dict[str, Any] = {}
    burst, paced = _fanout(result, ECHO, n, "burst"), _fanout(result, ECHO, n, "paced")
    for target, infix in ((ROOMKEY, ""), (ROOMKEY_PUSHER, "pusher_")):
        rk = _fanout(result, target, n, "burst")
        if rk and burst:
            out[f"fanout_{n}_{infix}deliveries_vs_laravel_echo_server"] = _ratio(
                rk["deliveries_per_second"], burst["deliveries_per_second"]
            )
            out[f"fanout_{n}_{infix}deliveries_per_cpu_second_vs_laravel_echo_server"] = _ratio(
                rk.get("deliveries_per_cpu_second", 0), burst.get("deliveries_per_cpu_second", 0)
            )
        rk = _fanout(result, target, n, "paced")
        if rk and paced:
            out[f"broadcast_{n}_{infix}p99_vs_laravel_echo_server"] = _ratio(
                rk["p99_ms"], paced["p99_ms"]
            )
    return out


def ratios(result: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets, each as a ratio (or a figure) from this one run."""
    out: dict[str, Any] = {}
    sizes = sorted({row["subscribers"] for row in result["fanout"]})
    for n in sizes:
        rk, base = _fanout(result, ROOMKEY, n, "burst"), _fanout(result, AIOHTTP, n, "burst")
        if rk and base:
            out[f"fanout_{n}_deliveries_vs_aiohttp"] = _ratio(
                rk["deliveries_per_second"], base["deliveries_per_second"]
            )
            out[f"fanout_{n}_deliveries_per_cpu_second_vs_aiohttp"] = _ratio(
                rk.get("deliveries_per_cpu_second", 0), base.get("deliveries_per_cpu_second", 0)
            )
        sio = _fanout(result, SIO, n, "burst")
        if rk and sio:
            out[f"fanout_{n}_deliveries_vs_python_socketio"] = _ratio(
                rk["deliveries_per_second"], sio["deliveries_per_second"]
            )
        rk, base = _fanout(result, ROOMKEY, n, "paced"), _fanout(result, AIOHTTP, n, "paced")
        if rk and base:
            out[f"broadcast_{n}_p99_vs_aiohttp"] = _ratio(rk["p99_ms"], base["p99_ms"])
        pusher = _fanout(result, ROOMKEY_PUSHER, n, "burst")
        base = _fanout(result, AIOHTTP, n, "burst")
        if pusher and base:
            out[f"fanout_{n}_pusher_deliveries_vs_aiohttp"] = _ratio(
                pusher["deliveries_per_second"], base["deliveries_per_second"]
            )
            out[f"fanout_{n}_pusher_deliveries_per_cpu_second_vs_aiohttp"] = _ratio(
                pusher.get("deliveries_per_cpu_second", 0),
                base.get("deliveries_per_cpu_second", 0),
            )
        pusher = _fanout(result, ROOMKEY_PUSHER, n, "paced")
        base = _fanout(result, AIOHTTP, n, "paced")
        if pusher and base:
            out[f"broadcast_{n}_pusher_p99_vs_aiohttp"] = _ratio(pusher["p99_ms"], base["p99_ms"])
        out.update(_vs_peer(result, n))
        nodes, single = _fanout(result, TWO_NODES, n, "burst"), _fanout(result, ROOMKEY, n, "burst")
        if nodes and single:
            out[f"fanout_{n}_two_nodes_vs_one_node"] = _ratio(
                nodes["deliveries_per_second"], single["deliveries_per_second"]
            )
            out[f"fanout_{n}_two_nodes_vs_one_node_per_cpu_second"] = _ratio(
                nodes.get("deliveries_per_cpu_second", 0), single["deliveries_per_cpu_second"]
            )
        on_cluster = _fanout(result, TWO_NODES_CLUSTER, n, "burst")
        if nodes and on_cluster:
            out[f"fanout_{n}_two_nodes_redis_cluster_vs_one_redis"] = _ratio(
                on_cluster["deliveries_per_second"], nodes["deliveries_per_second"]
            )
            out[f"fanout_{n}_two_nodes_redis_cluster_vs_one_redis_per_cpu_second"] = _ratio(
                on_cluster.get("deliveries_per_cpu_second", 0),
                nodes.get("deliveries_per_cpu_second", 0),
            )
        one, two = _fanout(result, WORKERS_1, n, "burst"), _fanout(result, WORKERS_2, n, "burst")
        if one and two:
            out[f"fanout_{n}_workers_2_vs_1"] = _ratio(
                two["deliveries_per_second"], one["deliveries_per_second"]
            )
            # What each CPU-second of the two workers delivers against one worker's: with a
            # core per worker (not possible beside the load generator on 2 CPUs), two workers
            # deliver twice this ratio.
            out[f"fanout_{n}_workers_2_vs_1_per_cpu_second"] = _ratio(
                two.get("deliveries_per_cpu_second", 0), one.get("deliveries_per_cpu_second", 0)
            )
    for row in result["connect"]:
        prefix = {
            ROOMKEY: "roomkey",
            ROOMKEY_PUSHER: "roomkey_pusher",
            ECHO: "laravel_echo_server",
        }.get(row["target"])
        if prefix is not None:
            key = "deflate_offered" if row["deflate_offered"] else "no_deflate"
            out[f"{prefix}_kb_per_connection_{row['clients']}_{key}"] = round(
                row["bytes_per_connection"] / 1024, 1
            )
    auth = result["authorize"]
    bare = auth.get("bare aiohttp JSON handler", {}).get("requests_per_second", 0.0)
    for kind in ("private", "presence"):
        rk_auth = auth.get(f"roomkey {kind}", {}).get("requests_per_second", 0.0)
        out[f"authorize_{kind}_vs_bare"] = _ratio(rk_auth, bare)
    minimal = auth.get("aiohttp form + HMAC handler", {}).get("requests_per_second", 0.0)
    if minimal and bare:
        out["authorize_form_hmac_handler_vs_bare"] = _ratio(minimal, bare)
    one = auth.get(WORKERS_AUTH_1, {}).get("requests_per_second", 0.0)
    two = auth.get(WORKERS_AUTH_2, {}).get("requests_per_second", 0.0)
    if one and two:
        out["authorize_workers_2_vs_1"] = _ratio(two, one)
    for r in result.get("soak", []):
        out[f"soak_{r['backend']}_rss_after_vs_before"] = r["rss_after_vs_before"]
        out[f"soak_{r['backend']}_rss_after_vs_fresh"] = r["rss_after_vs_fresh"]
        out[f"soak_{r['backend']}_maps_empty"] = r["maps_empty"]
    for r in result.get("idle", []):
        proto = "pusher" if r["target"] == ROOMKEY_PUSHER else "socketio"
        key = "deflate_offered" if r["deflate_offered"] else "no_deflate"
        out[f"idle_{r['clients']}_{proto}_kb_per_connection_{key}"] = round(
            r["bytes_per_connection"] / 1024, 1
        )
    return out


def long_sections(result: dict[str, Any]) -> list[str]:
    """The soak and idle-connections tables (empty when the run skipped them)."""
    lines: list[str] = []
    if result.get("soak"):
        lines += [
            "",
            "## Soak (churn on both transports, presence included)",
            "",
            "Every RSS figure but the peak is read with every client gone and every map "
            "empty. *before*: after a warm-up of churn rounds that ran until a round raised "
            f"RSS by less than {soak.SETTLED:.1%} (or its cap); *period ends*: after each "
            "period of the churn; *after*: the last period's end. The target: after over "
            f"before <= {soak.TARGET}. *after vs fresh*: against the node before any client "
            "(the warm-up's growth included).",
            "",
            "| backend | churn s (periods) | cycles warm-up + churn | errors "
            "| warm-up s | RSS MB fresh / before / peak / after | period ends MB "
            "| after vs before | after vs fresh | after a full collection | after malloc_trim "
            "| fds before/after | tasks before/after | maps back to empty |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in result["soak"]:
            b, a, w = r["before"], r["after"], r["warm_up"]
            ends = " / ".join(str(e["rss_mb"]) for e in r["period_ends"])
            lines.append(
                f"| {r['backend']} | {r['seconds']:g} ({r['periods']}) "
                f"| {r['warm_up_cycles']} + {r['cycles']} | {r['errors']} "
                f"| {w['churned_seconds']:g} ({'settled' if w['settled'] else 'cap reached'}) "
                f"| {r['fresh']['rss_mb']} / {b['rss_mb']} / {r['peak_rss_mb']} / {a['rss_mb']} "
                f"| {ends} | {r['rss_after_vs_before']} ({'met' if r['rss_met'] else 'not met'}) "
                f"| {r['rss_after_vs_fresh']} | {r['rss_after_collect_vs_before']} "
                f"| {r['rss_after_trim_vs_before']} | {b['fds']}/{a['fds']} "
                f"| {b['tasks']}/{a['tasks']} "
                f"| {'yes' if r['maps_empty'] else 'no: ' + str(r['left_over'])} |"
            )
        lines += [""] + [f"- {soak.summary_line(r)}" for r in result["soak"]]
    if result.get("idle"):
        lines += [
            "",
            "## Idle connections on one process",
            "",
            "| target | asked | clients | deflate offered | connected | errors | connects/s "
            "| KB per connection | broadcast received | p50 ms | p99 ms | max ms "
            "| deliveries per server CPU-second | limited by |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in result["idle"]:
            lines.append(
                f"| {r['target']} | {r['requested']} | {r['clients']} "
                f"| {'yes' if r['deflate_offered'] else 'no'} | {r['connected']} "
                f"| {r['errors']} | {r['connects_per_second']:.0f} "
                f"| {r['bytes_per_connection'] / 1024:.1f} | {r['broadcast_received']} "
                f"| {r['broadcast_p50_ms']} | {r['broadcast_p99_ms']} | {r['broadcast_max_ms']} "
                f"| {r['deliveries_per_cpu_second']} | {r['limited_by'] or '-'} |"
            )
    return lines


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# roomkey benchmark ({result['mode']}, {result['started_utc']})",
        "",
        f"Command: `{result['command']}`; {result['rounds']} interleaved round(s), medians; "
        f"server on CPU {result['machine']['server_cpu']}, load on CPU "
        f"{result['machine']['load_cpu']}; took {result['seconds']} s.",
        "",
        "Machine: " + f"{result['machine']['cpus']} CPUs, {result['machine']['cpu_model']}, "
        f"Linux {result['machine']['kernel']}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()) + ".",
        "",
        "## Ratios (this run)",
        "",
        "| measure | value |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in result["ratios"].items()]
    lines += [
        "",
        "## Fan-out (one channel)",
        "",
        "| target | subscribers | mode | messages | received/expected | deliveries/s "
        "| deliveries per server CPU-second | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["fanout"]:
        per_cpu = r.get("deliveries_per_cpu_second") or 0
        lines.append(
            f"| {r['target']} | {r['subscribers']} | {r['mode']} | {r['messages']} "
            f"| {r['received']}/{r['expected']} | {r['deliveries_per_second']:.0f} "
            f"| {f'{per_cpu:.0f}' if per_cpu else '-'} "
            f"| {r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} |"
        )
    lines += [
        "",
        "## Connections",
        "",
        "| target | clients | deflate offered | accepted | connected | errors | connects/s "
        "| KB per connection |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["connect"]:
        lines.append(
            f"| {r['target']} | {r['clients']} | {'yes' if r['deflate_offered'] else 'no'} "
            f"| {r['deflate_accepted']} | {r['connected']} | {r['errors']} "
            f"| {r['connects_per_second']:.0f} | {r['bytes_per_connection'] / 1024:.1f} |"
        )
    lines += [
        "",
        "## Authorize (wrk, JWT identity)",
        "",
        "| handler | requests/s | non-2xx |",
        "|---|---|---|",
    ]
    for name, r in result["authorize"].items():
        lines.append(f"| {name} | {r['requests_per_second']:.0f} | {r['non_2xx']} |")
    lines += long_sections(result)
    if result["not_measured"]:
        lines += ["", "## Not measured", ""]
        lines += [f"- {r['scenario']}: {r['reason']}" for r in result["not_measured"]]
    return "\n".join(lines) + "\n"


def chart(result: dict[str, Any], path: Path) -> None:
    """Three panels: burst deliveries/s, paced p99 latency, KB per connection."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = list(dict.fromkeys(r["target"] for r in result["fanout"]))
    sizes = sorted({r["subscribers"] for r in result["fanout"]})
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    width = 0.8 / max(1, len(targets))
    for i, t in enumerate(targets):
        xs = [j + i * width for j in range(len(sizes))]
        burst = [
            (_fanout(result, t, n, "burst") or {}).get("deliveries_per_second", 0) for n in sizes
        ]
        p99 = [(_fanout(result, t, n, "paced") or {}).get("p99_ms", 0) for n in sizes]
        axes[0].bar(xs, burst, width, label=t)
        axes[1].bar(xs, p99, width, label=t)
    for ax, title in ((axes[0], "burst deliveries/s"), (axes[1], "paced broadcast p99 (ms)")):
        ax.set_xticks([j + width * (len(targets) - 1) / 2 for j in range(len(sizes))])
        ax.set_xticklabels([f"{n} subscribers" for n in sizes])
        ax.set_title(title)
    conn = list(result["connect"])
    labels = [
        f"{r['target'][:22]}\n{r['clients']}{' +deflate' if r['deflate_offered'] else ''}"
        for r in conn
    ]
    axes[2].bar(range(len(conn)), [r["bytes_per_connection"] / 1024 for r in conn])
    axes[2].set_xticks(range(len(conn)))
    axes[2].set_xticklabels(labels, fontsize=6, rotation=90)
    axes[2].set_title("KB per idle connection")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"roomkey benchmark, {result['started_utc']} ({result['mode']})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
