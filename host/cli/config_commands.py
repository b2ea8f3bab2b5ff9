"""`earpiece config path|show`: where the settings file is, and what is in force."""

from __future__ import annotations

from host import config, paths
from host.cli.output import CliError, add_json_flag, emit


def register(subparsers) -> None:
    parser = subparsers.add_parser("config", help="show where the settings live and what is in force",
                                   description="Settings live in one TOML file; every key is optional.")
    commands = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    path = commands.add_parser("path", help="print the settings file's path")
    add_json_flag(path)
    path.set_defaults(func=cmd_path)
    show = commands.add_parser("show", help="print every setting in force, with what it does and its default")
    add_json_flag(show)
    show.set_defaults(func=cmd_show)


def load_config() -> config.Config:
    """The user's settings, or a CliError naming the bad key or line."""
    try:
        return config.load()
    except config.ConfigError as error:
        raise CliError(f"{error} (fix it, or see `earpiece config show` for every key)") from None


def cmd_path(args) -> int:
    file = paths.config_file()
    emit(args, {"path": str(file), "exists": file.is_file()}, str(file))
    return 0


def cmd_show(args) -> int:
    file = paths.config_file()
    settings = load_config()
    emit(args, {"path": str(file), "exists": file.is_file(), "config": settings.to_dict()},
         f"# {file}{'' if file.is_file() else ' (does not exist: all defaults)'}\n" + config.render_toml(settings))
    return 0
