"""Reads the cluster with pymesos' operator client; prints a JSON summary."""
import json
import sys

from pymesos import MesosOperatorMasterDriver

d = MesosOperatorMasterDriver(sys.argv[1])
agents = d.getAgents()
frameworks = d.getFrameworks()
tasks = d.getTasks()
state = d.getState()
health = d.getHealth()
print(json.dumps(dict(
    health=health.get("get_health", {}).get("healthy"),
    agents=[a["agent_info"]["id"]["value"] for a in agents["get_agents"]["agents"]],
    frameworks=[f["framework_info"]["name"] for f in frameworks["get_frameworks"]["frameworks"]],
    tasks=sorted((t["task_id"]["value"], t["state"]) for t in tasks["get_tasks"].get("tasks", [])),
    state_tasks=len(state["get_state"]["get_tasks"].get("tasks", [])),
)))
