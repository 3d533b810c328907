"""``av-perception bag info|play|record``: bag inspection and ROS-free-install playback."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bag`` command and its subcommands."""
    parser = subparsers.add_parser('bag', help='inspect, play and record rosbag2 bags')
    commands = parser.add_subparsers(dest='bag_command', metavar='SUBCOMMAND')
    commands.required = True

    info = commands.add_parser('info', help='storage, duration, per-topic type and count')
    info.add_argument('bag', help='bag directory, .mcap or .db3 file')
    info.add_argument('--json', action='store_true', help='print JSON instead of a table')
    info.add_argument('--check', action='store_true',
                      help='also deserialise every message and decode every image, reporting '
                           'the bad ones')
    info.set_defaults(func=run_info)

    play = commands.add_parser('play', help='publish a bag on ROS 2 topics (like ros2 bag play)')
    play.add_argument('bag', help='bag directory, .mcap or .db3 file')
    play.add_argument('--rate', type=float, default=1.0, help='speed factor (default 1.0)')
    play.add_argument('--loop', action='store_true', help='play again and again')
    play.add_argument('--start-offset', type=float, default=0.0, metavar='S',
                      help='start S seconds into the bag')
    play.add_argument('--delay', type=float, default=0.0, metavar='S',
                      help='wait S seconds after creating publishers')
    play.add_argument('--topics', nargs='+', default=[], metavar='TOPIC', help='topics to play')
    play.add_argument('--remap', nargs='+', default=[], metavar='FROM:=TO',
                      help='topic remappings')
    play.add_argument('--clock', action='store_true', help='publish /clock from bag time')
    play.add_argument('--clock-frequency', type=float, default=100.0, metavar='HZ')
    play.add_argument('--wait-for-subscribers', type=int, default=0, metavar='N',
                      help='wait until N subscriptions matched before playing')
    play.add_argument('--qos-profile-overrides-path', default='', metavar='YAML')
    play.set_defaults(func=run_play)

    record = commands.add_parser('record', help='record topics into a bag (like ros2 bag record)')
    record.add_argument('-o', '--output', required=True, help='bag directory to create')
    record.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap')
    record.add_argument('--overwrite', action='store_true', help='replace an existing bag')
    record.add_argument('topics', nargs='*', help='topics to record (default: all)')
    record.set_defaults(func=run_record)


def run_info(args: argparse.Namespace) -> int:
    """Print the bag summary; exit 1 if problems were found with --check."""
    from av_perception.bag.reader import BagReader
    with BagReader(args.bag) as reader:
        info = reader.info()
        if args.check:
            _check_all_messages(reader)
        problems = list(reader.problems)
    if args.json:
        document = info.to_dict()
        document['problems'] = [str(p) for p in problems]
        print(json.dumps(document, indent=2))
    else:
        print(format_info(info))
        for problem in problems:
            print(f'problem: {problem}')
    return 1 if (args.check and problems) else 0


def _check_all_messages(reader) -> None:
    from av_perception.image.codec import ImageConversionError, message_to_bgr
    from av_perception.media import IMAGE_TYPES
    for raw, msg in reader.messages():
        if raw.msgtype in IMAGE_TYPES:
            try:
                message_to_bgr(msg)
            except ImageConversionError as err:
                reader.report_problem(raw.topic, raw.index, str(err))


def format_info(info) -> str:
    """Return the human-readable ``bag info`` table."""
    lines = [
        f'Bag:           {info.path}',
        f'Storage:       {info.storage}' + (f' ({info.compression})' if info.compression else ''),
        f'Files:         {", ".join(info.files)}',
        f'Version:       {info.metadata_version if info.metadata_version else "(no metadata)"}',
        f'Duration:      {info.duration_s:.3f} s',
        f'Messages:      {info.message_count}',
        'Topics:',
    ]
    width = max((len(t.name) for t in info.topics), default=0)
    for topic in info.topics:
        lines.append(f'  {topic.name:<{width}}  {topic.type}  count={topic.count}'
                     f'  format={topic.serialization_format}')
    return '\n'.join(lines)


def run_play(args: argparse.Namespace) -> int:
    """Play the bag through our player node in this process."""
    from av_perception.ros.bag_player import play_bag
    overrides = {
        'bag': args.bag, 'rate': args.rate, 'loop': args.loop,
        'start_offset': args.start_offset, 'delay': args.delay, 'topics': args.topics,
        'remap': args.remap, 'clock': args.clock, 'clock_frequency': args.clock_frequency,
        'wait_for_subscribers': args.wait_for_subscribers,
        'qos_profile_overrides_path': args.qos_profile_overrides_path,
    }
    return play_bag(overrides, args=sys.argv[:1])


def run_record(args: argparse.Namespace) -> int:
    """Record until Ctrl-C / SIGTERM through our recorder node in this process."""
    from av_perception.ros.bag_recorder import record_bag
    overrides = {'output': args.output, 'storage': args.storage, 'overwrite': args.overwrite,
                 'topics': args.topics}
    return record_bag(overrides, args=sys.argv[:1])
