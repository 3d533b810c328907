"""The XML launch subset runner: substitutions, conditions, includes, and what it refuses."""

import sys
import textwrap

import pytest

from av_perception.launch_xml import (LaunchFileError, LaunchRunner, load_launch,
                                      parse_launch_arguments)


def write(path, body):
    """Write a launch file and return its path."""
    path.write_text(textwrap.dedent(body))
    return path


def test_arguments_lets_conditions_groups_and_includes(tmp_path):
    params = tmp_path / 'p.yaml'
    params.write_text('/**:\n  ros__parameters:\n    rate: 2.0\n')
    write(tmp_path / 'child.launch.xml', """\
        <launch>
          <arg name="topic" default="/default"/>
          <node pkg="av_perception" exec="bag_player" name="player" respawn="true"
                respawn_delay="0.5">
            <param from="$(dirname)/p.yaml"/>
            <param name="loop" value="$(var loop)"/>
            <remap from="~/in" to="$(var topic)"/>
            <env name="EXTRA" value="1"/>
          </node>
        </launch>""")
    top = write(tmp_path / 'top.launch.xml', """\
        <launch>
          <arg name="run_child" default="true" description="start the child"/>
          <arg name="camera" default="/cam"/>
          <let name="loop" value="false"/>
          <set_env name="FASTDDS_BUILTIN_TRANSPORTS" value="LARGE_DATA"/>
          <group>
            <set_env name="ONLY_IN_GROUP" value="x"/>
          </group>
          <include file="$(dirname)/child.launch.xml" if="$(var run_child)">
            <arg name="topic" value="$(var camera)/image"/>
          </include>
          <node pkg="av_perception" exec="bag_recorder" name="rec" unless="$(var run_child)"/>
          <node pkg="av_perception" exec="bag_recorder" name="rec2" namespace="ns"
                args="--extra" if="$(env NOT_SET_ANYWHERE false)"/>
        </launch>""")
    plan = load_launch(top, {'camera': '/front'}, env={})
    assert plan.arguments == {'run_child': 'true', 'camera': '/front'}
    assert [p.name for p in plan.processes] == ['player']
    player = plan.processes[0]
    assert player.respawn and player.respawn_delay == 0.5
    assert player.param_files == (str(params),) and player.params == (('loop', 'false'),)
    assert player.remaps == (('~/in', '/front/image'),)
    env = dict(player.env)
    assert env['FASTDDS_BUILTIN_TRANSPORTS'] == 'LARGE_DATA' and env['EXTRA'] == '1'
    assert 'ONLY_IN_GROUP' not in env  # scoped group
    command = list(player.command)
    assert command[0] == sys.executable
    assert 'from av_perception.ros.bag_player import main' in command[2]
    at = command.index('--ros-args')
    assert command[at:] == ['--ros-args', '-r', '__node:=player', '--params-file', str(params),
                            '-p', 'loop:=false', '-r', '~/in:=/front/image']
    plan = load_launch(top, {'run_child': 'false'}, env={})
    assert [p.name for p in plan.processes] == ['rec']


@pytest.mark.parametrize('body,message', [
    ('<launch><timer period="1"/></launch>', 'tag <timer> is not supported'),
    ('<launch><node pkg="av_perception" exec="bag_player" launch-prefix="gdb"/></launch>',
     r"attribute\(s\) \['launch-prefix'\] not supported"),
    ('<launch><node pkg="av_perception" exec="nonexistent_node"/></launch>',
     "executable 'nonexistent_node' is not installed by setup.py"),
    ('<launch><node pkg="demo_nodes_cpp" exec="talker"/></launch>',
     "node of package 'demo_nodes_cpp'"),
    ('<launch><let name="x" value="$(eval 1+1)"/></launch>', r'substitution \$\(eval\)'),
    ('<launch><let name="x" value="$(var missing)"/></launch>', r'\$\(var missing\) is not'),
    ('<launch><arg name="x"/></launch>', "argument 'x' has no default"),
    ('<launch><node pkg="av_perception" exec="bag_player" respawn="maybe"/></launch>',
     "respawn>='maybe': expected true or false"),
    ('<launch><node pkg="av_perception" exec="bag_player"><param from="/no/such.yaml"/>'
     '</node></launch>', 'parameter file /no/such.yaml of node bag_player does not exist'),
    ('<root/>', 'root element is <root>'),
    ('<launch>', 'not well-formed XML'),
])
def test_unsupported_or_broken_files_are_refused_by_name(tmp_path, body, message):
    path = tmp_path / 'bad.launch.xml'
    path.write_text(body)
    with pytest.raises(LaunchFileError, match=message):
        load_launch(path, env={})


def test_unknown_argument_and_argument_syntax(tmp_path):
    path = write(tmp_path / 'a.launch.xml', '<launch><arg name="a" default="1"/></launch>')
    with pytest.raises(LaunchFileError, match=r"unknown launch argument\(s\) \['b'\]"):
        load_launch(path, {'b': '2'}, env={})
    assert parse_launch_arguments(['a:=1', 'b:=x:=y']) == {'a': '1', 'b': 'x:=y'}
    with pytest.raises(LaunchFileError, match='expected name:=value'):
        parse_launch_arguments(['a=1'])


def test_runner_respawns_and_collects_exit_codes(tmp_path):
    script = tmp_path / 'count.py'
    script.write_text(textwrap.dedent("""\
        import pathlib, signal, sys, time
        marker = pathlib.Path(sys.argv[1])
        runs = int(marker.read_text()) + 1 if marker.exists() else 1
        marker.write_text(str(runs))
        if runs < 3:
            sys.exit(7)  # crash twice
        signal.signal(signal.SIGINT, lambda *a: sys.exit(0))
        print('serving', flush=True)
        signal.pause()
        """))
    marker = tmp_path / 'runs.txt'
    path = write(tmp_path / 'r.launch.xml', f"""\
        <launch>
          <executable cmd="{sys.executable} {script} {marker}" name="flaky" respawn="true"
                      respawn_delay="0.1"/>
        </launch>""")
    runner = LaunchRunner(load_launch(path, env={}), tmp_path / 'logs')
    runner.start()
    flaky = runner.processes['flaky']
    assert runner.wait_for_output('flaky', 'serving', timeout=20)  # the third run stays up
    codes = runner.stop()
    assert flaky.respawns == 2 and flaky.exit_codes[:2] == [7, 7]
    assert codes == {'flaky': 0} and marker.read_text() == '3'
