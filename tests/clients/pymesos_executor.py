"""A custom executor written with pymesos, as a framework author would: it runs tasks in
threads, answers framework messages ("ping" -> "pong"), and finishes a task on "finish"."""
import sys
import threading
import time

from pymesos import Executor, MesosExecutorDriver, encode_data, decode_data


class EchoExecutor(Executor):
    def __init__(self):
        self.tasks = {}
        self.lock = threading.Lock()

    def launchTask(self, driver, task):
        tid = task["task_id"]["value"]
        with self.lock:
            self.tasks[tid] = task
        driver.sendStatusUpdate(dict(task_id=task["task_id"], state="TASK_RUNNING", message="executor runs it"))

    def killTask(self, driver, task_id):
        driver.sendStatusUpdate(dict(task_id=task_id, state="TASK_KILLED"))

    def frameworkMessage(self, driver, message):
        text = decode_data(message).decode()
        if text == "ping":
            driver.sendFrameworkMessage(encode_data(b"pong"))
        elif text == "finish":
            with self.lock:
                tasks = list(self.tasks.values())
                self.tasks.clear()
            for t in tasks:
                driver.sendStatusUpdate(dict(task_id=t["task_id"], state="TASK_FINISHED", message="done by executor"))
            # Give the updates time to be acknowledged before leaving.
            threading.Timer(2.0, driver.stop).start()


if __name__ == "__main__":
    driver = MesosExecutorDriver(EchoExecutor(), use_addict=True)
    driver.run()
    sys.exit(0)
