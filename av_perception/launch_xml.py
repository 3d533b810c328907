"""Run ROS 2 XML launch files where ``ros2 launch`` is not installable.

``ros2 launch av_perception perception.launch.xml`` is how the graph starts on a ROS machine.
Here (ROS 2 from PyPI wheels: no launch, launch_ros, ros2cli), this module reads the same files
and starts exactly what they describe, so tests exercise the real launch files. It understands
the documented subset our files use, and refuses anything else by name:

* tags: ``launch``, ``arg``, ``let``, ``include`` (with ``arg`` children), ``group``
  (``scoped``), ``set_env``, ``node`` (``param``, ``remap``, ``env`` children),
  ``executable``;
* attributes ``if``/``unless`` on every action;
* substitutions ``$(var NAME)``, ``$(find-pkg-share PKG)``, ``$(env NAME [DEFAULT])``,
  ``$(dirname)``.

A node of ``av_perception`` runs as ``python -c <its entry point> --ros-args ...`` with the
same ``--ros-args`` ``ros2 launch`` passes (``__node``, ``__ns``, ``--params-file``, ``-p``,
``-r``). Nothing here imports rclpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import os
from pathlib import Path
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from typing import Mapping, Sequence
import xml.etree.ElementTree as ElementTree

from av_perception.entry_points import CONSOLE_SCRIPTS

PACKAGE = 'av_perception'
_REPO_ROOT = Path(__file__).resolve().parent.parent
TRUE_VALUES = ('true', '1', 'yes', 'on')
FALSE_VALUES = ('false', '0', 'no', 'off')
_ALLOWED = {
    'launch': set(),
    'arg': {'name', 'default', 'description'},
    'let': {'name', 'value'},
    'include': {'file'},
    'group': {'scoped'},
    'set_env': {'name', 'value'},
    'node': {'pkg', 'exec', 'name', 'namespace', 'output', 'respawn', 'respawn_delay', 'args'},
    'param': {'name', 'value', 'from'},
    'remap': {'from', 'to'},
    'env': {'name', 'value'},
    'executable': {'cmd', 'name', 'output', 'respawn', 'respawn_delay'},
}
_CONDITIONS = {'if', 'unless'}
_SUBSTITUTION = re.compile(r'\$\(([a-z-]+)((?:\s+[^()\s]+)*)\s*\)')


class LaunchFileError(ValueError):
    """A launch file uses something this runner does not understand, or is inconsistent."""


@dataclass(frozen=True)
class ProcessSpec:
    """One process a launch file starts."""

    name: str
    command: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    respawn: bool = False
    respawn_delay: float = 0.0
    package: str = ''
    executable: str = ''
    node_name: str = ''
    namespace: str = ''
    param_files: tuple[str, ...] = ()
    params: tuple[tuple[str, str], ...] = ()
    remaps: tuple[tuple[str, str], ...] = ()


@dataclass
class LaunchPlan:
    """Everything a launch file starts, with the arguments it was resolved with."""

    processes: list[ProcessSpec] = field(default_factory=list)
    arguments: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


def package_share(package: str) -> Path:
    """Return the share directory of ``package`` (this package: the source tree or install)."""
    for prefix in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep):
        candidate = Path(prefix) / 'share' / package
        if prefix and (candidate / 'package.xml').exists():
            return candidate
    if package == PACKAGE and (_REPO_ROOT / 'package.xml').exists():
        return _REPO_ROOT
    raise LaunchFileError(f'$(find-pkg-share {package}): package not found '
                          '(not in AMENT_PREFIX_PATH)')


def parse_bool(text: str, what: str) -> bool:
    """Return the boolean of a launch attribute or raise naming it."""
    lowered = text.strip().lower()
    if lowered in TRUE_VALUES:
        return True
    if lowered in FALSE_VALUES:
        return False
    raise LaunchFileError(f'{what}={text!r}: expected true or false')


class _Context:
    def __init__(self, path: Path, variables: dict[str, str], env: dict[str, str]) -> None:
        self.path = path
        self.variables = variables
        self.env = env

    def child(self, path: Path | None = None, scoped: bool = True) -> _Context:
        if not scoped:
            return _Context(path or self.path, self.variables, self.env)
        return _Context(path or self.path, dict(self.variables), dict(self.env))

    def substitute(self, text: str | None) -> str:
        if text is None:
            return ''

        def replace(match: re.Match) -> str:
            kind, rest = match.group(1), match.group(2).split()
            if kind == 'var':
                if len(rest) != 1:
                    raise LaunchFileError(f'{self.path.name}: $(var) takes one name: '
                                          f'{match.group(0)}')
                if rest[0] not in self.variables:
                    raise LaunchFileError(f'{self.path.name}: $(var {rest[0]}) is not defined')
                return self.variables[rest[0]]
            if kind == 'find-pkg-share':
                return str(package_share(rest[0]))
            if kind == 'env':
                if rest[0] in self.env:
                    return self.env[rest[0]]
                if len(rest) > 1:
                    return rest[1]
                raise LaunchFileError(f'{self.path.name}: $(env {rest[0]}) is not set')
            if kind == 'dirname':
                return str(self.path.parent)
            raise LaunchFileError(f'{self.path.name}: substitution $({kind}) is not supported '
                                  '(supported: var, find-pkg-share, env, dirname)')
        previous = None
        while previous != text:  # a substitution may produce another one
            previous, text = text, _SUBSTITUTION.sub(replace, text)
        if '$(' in text:
            raise LaunchFileError(f'{self.path.name}: unsupported substitution in {text!r}')
        return text


def load_launch(path: str | Path, arguments: Mapping[str, str] | None = None,
                env: Mapping[str, str] | None = None) -> LaunchPlan:
    """Resolve a launch file (and its includes) into the processes it starts."""
    plan = LaunchPlan()
    context = _Context(Path(path).resolve(), {}, dict(env if env is not None else os.environ))
    _load_file(context, dict(arguments or {}), plan, top_level=True)
    return plan


def _load_file(context: _Context, arguments: dict[str, str], plan: LaunchPlan,
               top_level: bool = False) -> None:
    path = context.path
    if not path.exists():
        raise LaunchFileError(f'launch file {path} does not exist')
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as err:
        raise LaunchFileError(f'{path.name}: not well-formed XML: {err}') from err
    if root.tag != 'launch':
        raise LaunchFileError(f'{path.name}: root element is <{root.tag}>, expected <launch>')
    plan.files.append(str(path))
    declared = [child.get('name') for child in root if child.tag == 'arg']
    unknown = sorted(set(arguments) - set(declared))
    if unknown:
        raise LaunchFileError(f'{path.name}: unknown launch argument(s) {unknown}; declared: '
                              f'{declared}')
    context.variables.update(arguments)
    _run_actions(context, list(root), plan, arguments, top_level)


def _check_attributes(context: _Context, element: ElementTree.Element) -> None:
    if element.tag not in _ALLOWED:
        raise LaunchFileError(f'{context.path.name}: tag <{element.tag}> is not supported '
                              f'(supported: {", ".join(sorted(_ALLOWED))})')
    extra = set(element.attrib) - _ALLOWED[element.tag] - _CONDITIONS
    if extra:
        raise LaunchFileError(f'{context.path.name}: <{element.tag}> attribute(s) '
                              f'{sorted(extra)} not supported')


def _enabled(context: _Context, element: ElementTree.Element) -> bool:
    if 'if' in element.attrib and not parse_bool(context.substitute(element.get('if')),
                                                 f'<{element.tag} if>'):
        return False
    if 'unless' in element.attrib and parse_bool(context.substitute(element.get('unless')),
                                                 f'<{element.tag} unless>'):
        return False
    return True


def _run_actions(context: _Context, elements: list, plan: LaunchPlan,
                 arguments: Mapping[str, str], top_level: bool) -> None:
    for element in elements:
        _check_attributes(context, element)
        if element.tag == 'arg':
            name = element.get('name')
            if name not in context.variables:
                if 'default' not in element.attrib:
                    raise LaunchFileError(f'{context.path.name}: argument {name!r} has no '
                                          'default and was not given')
                context.variables[name] = context.substitute(element.get('default'))
            if top_level:
                plan.arguments[name] = context.variables[name]
            continue
        if not _enabled(context, element):
            continue
        if element.tag == 'let':
            context.variables[element.get('name')] = context.substitute(element.get('value'))
        elif element.tag == 'set_env':
            context.env[element.get('name')] = context.substitute(element.get('value'))
        elif element.tag == 'group':
            scoped = parse_bool(element.get('scoped', 'true'), '<group scoped>')
            _run_actions(context.child(scoped=scoped), list(element), plan, arguments, False)
        elif element.tag == 'include':
            _include(context, element, plan)
        elif element.tag == 'node':
            plan.processes.append(_node(context, element))
        elif element.tag == 'executable':
            plan.processes.append(_executable(context, element))
        else:
            raise LaunchFileError(f'{context.path.name}: <{element.tag}> is not an action here')


def _include(context: _Context, element: ElementTree.Element, plan: LaunchPlan) -> None:
    target = Path(context.substitute(element.get('file')))
    included_args = {}
    for child in element:
        if child.tag != 'arg' or set(child.attrib) - {'name', 'value'}:
            raise LaunchFileError(f'{context.path.name}: <include> may only hold <arg name value>')
        included_args[child.get('name')] = context.substitute(child.get('value'))
    # an included file sees the includer's variables (ros2 launch semantics), plus its args
    child_context = context.child(path=target.resolve())
    _load_file(child_context, included_args, plan)


def _node(context: _Context, element: ElementTree.Element) -> ProcessSpec:
    package = context.substitute(element.get('pkg'))
    executable = context.substitute(element.get('exec'))
    if package != PACKAGE:
        raise LaunchFileError(f'{context.path.name}: node of package {package!r}: only '
                              f'{PACKAGE} nodes can run without ros2 launch')
    if executable not in CONSOLE_SCRIPTS:
        raise LaunchFileError(f'{context.path.name}: executable {executable!r} is not installed '
                              f'by setup.py (known: {sorted(CONSOLE_SCRIPTS)})')
    name = context.substitute(element.get('name')) or executable
    namespace = context.substitute(element.get('namespace'))
    param_files, params, remaps, env = [], [], [], dict(context.env)
    for child in element:
        _check_attributes(context, child)
        if not _enabled(context, child):
            continue
        if child.tag == 'param':
            if child.get('from'):
                file = context.substitute(child.get('from'))
                if not Path(file).exists():
                    raise LaunchFileError(f'{context.path.name}: parameter file {file} of node '
                                          f'{name} does not exist')
                param_files.append(file)
            else:
                params.append((child.get('name'), context.substitute(child.get('value'))))
        elif child.tag == 'remap':
            remaps.append((context.substitute(child.get('from')),
                           context.substitute(child.get('to'))))
        elif child.tag == 'env':
            env[child.get('name')] = context.substitute(child.get('value'))
        else:
            raise LaunchFileError(f'{context.path.name}: <{child.tag}> inside <node>')
    module, _, function = CONSOLE_SCRIPTS[executable].partition(':')
    command = [sys.executable, '-c',
               f'import sys; from {module} import {function}; sys.exit({function}())']
    command += shlex.split(context.substitute(element.get('args')))
    command += ['--ros-args', '-r', f'__node:={name}']
    if namespace:
        command += ['-r', f'__ns:={namespace}']
    for file in param_files:
        command += ['--params-file', file]
    for key, value in params:
        command += ['-p', f'{key}:={value}']
    for source, target in remaps:
        command += ['-r', f'{source}:={target}']
    respawn = parse_bool(context.substitute(element.get('respawn', 'false')), '<node respawn>')
    return ProcessSpec(
        name=name, command=tuple(command), env=tuple(sorted(env.items())), respawn=respawn,
        respawn_delay=float(context.substitute(element.get('respawn_delay', '0')) or 0),
        package=package, executable=executable, node_name=name, namespace=namespace,
        param_files=tuple(param_files), params=tuple(params), remaps=tuple(remaps))


def _executable(context: _Context, element: ElementTree.Element) -> ProcessSpec:
    command = shlex.split(context.substitute(element.get('cmd')))
    if not command:
        raise LaunchFileError(f'{context.path.name}: <executable> with an empty cmd')
    respawn = parse_bool(context.substitute(element.get('respawn', 'false')),
                         '<executable respawn>')
    return ProcessSpec(name=context.substitute(element.get('name')) or Path(command[0]).name,
                       command=tuple(command), env=tuple(sorted(context.env.items())),
                       respawn=respawn,
                       respawn_delay=float(context.substitute(element.get('respawn_delay', '0'))
                                           or 0))


@dataclass
class RunningProcess:
    """A started process, its output so far, exit codes of every run, and its respawns."""

    spec: ProcessSpec
    log_path: Path
    popen: subprocess.Popen | None = None
    exit_codes: list[int] = field(default_factory=list)
    respawns: int = 0
    output: list[str] = field(default_factory=list)


class LaunchRunner:
    """Start the processes of a plan, respawn those marked so, stop them all with SIGINT."""

    def __init__(self, plan: LaunchPlan, log_dir: str | Path,
                 env: Mapping[str, str] | None = None) -> None:
        """Prepare to run ``plan``; each process logs to ``log_dir/<name>.log``."""
        self.plan = plan
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._base_env = dict(env if env is not None else os.environ)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._output_changed = threading.Condition()
        self.processes: dict[str, RunningProcess] = {}
        self._watchers: list[threading.Thread] = []

    def start(self) -> None:
        """Start every process, each watched by a thread that respawns it if configured."""
        for spec in self.plan.processes:
            if spec.name in self.processes:
                raise LaunchFileError(f'two processes are named {spec.name!r}')
            running = RunningProcess(spec, self.log_dir / f'{spec.name}.log')
            self.processes[spec.name] = running
            self._spawn(running)
            watcher = threading.Thread(target=self._watch, args=(running,), daemon=True)
            watcher.start()
            self._watchers.append(watcher)

    def _spawn(self, running: RunningProcess) -> None:
        env = dict(self._base_env)
        env.update(dict(running.spec.env))
        env['PYTHONPATH'] = os.pathsep.join(
            p for p in (str(_REPO_ROOT), env.get('PYTHONPATH', '')) if p)
        env.setdefault('PYTHONUNBUFFERED', '1')
        running.popen = subprocess.Popen(list(running.spec.command), env=env,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         text=True, errors='replace', start_new_session=True)
        reader = threading.Thread(target=self._read_output, args=(running, running.popen),
                                  daemon=True)
        reader.start()

    def _read_output(self, running: RunningProcess, popen: subprocess.Popen) -> None:
        with running.log_path.open('a') as log:
            for line in popen.stdout:
                log.write(line)
                log.flush()
                with self._output_changed:
                    running.output.append(line)
                    self._output_changed.notify_all()

    def wait_for_output(self, name: str, text: str, timeout: float) -> bool:
        """Block until process ``name`` printed ``text`` (any run) or ``timeout`` passed."""
        running = self.processes[name]
        with self._output_changed:
            return self._output_changed.wait_for(
                lambda: any(text in line for line in running.output), timeout)

    def _watch(self, running: RunningProcess) -> None:
        while True:
            code = running.popen.wait()
            with self._lock:
                running.exit_codes.append(code)
                if self._stopping.is_set() or not running.spec.respawn:
                    return
            if self._stopping.wait(running.spec.respawn_delay):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self._spawn(running)
                # counted once the new process is there: a reader of respawns then sees its pid
                running.respawns += 1

    def pid(self, name: str) -> int:
        """Return the current process id of process ``name``."""
        return self.processes[name].popen.pid

    def stop(self, timeout: float = 10.0) -> dict[str, int]:
        """SIGINT every process (then SIGTERM/SIGKILL after ``timeout``); return exit codes."""
        self._stopping.set()
        with self._lock:
            for running in self.processes.values():
                if running.popen is not None and running.popen.poll() is None:
                    running.popen.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        for running in self.processes.values():
            for sig in (None, signal.SIGTERM, signal.SIGKILL):
                if sig is not None and running.popen.poll() is None:
                    running.popen.send_signal(sig)
                try:
                    running.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
                    break
                except subprocess.TimeoutExpired:
                    deadline = time.monotonic() + 3.0
        for watcher in self._watchers:
            watcher.join(timeout=2.0)
        return {name: running.popen.returncode for name, running in self.processes.items()}

    def log(self, name: str) -> str:
        """Return what process ``name`` printed so far (all runs)."""
        with self._output_changed:
            return ''.join(self.processes[name].output)


def parse_launch_arguments(items: Sequence[str]) -> dict[str, str]:
    """Parse ``name:=value`` command-line launch arguments."""
    arguments = {}
    for item in items:
        name, sep, value = item.partition(':=')
        if not sep or not name:
            raise LaunchFileError(f'launch argument {item!r}: expected name:=value')
        arguments[name] = value
    return arguments
