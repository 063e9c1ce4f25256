"""Click's own messages (usage, errors, the help option), marked for Roster's catalog.

Click translates these with gettext; cli.py hands Click Roster's catalog instead of the system's, so
they appear here to be extracted (tools/i18n.py) and translated like every other message. Only what
a coordinator can meet is listed; Click's messages for programming mistakes stay English.
"""

from scheduler.i18n import N_, NP_

CLICK_MESSAGES = (
    N_("Aborted!"),
    N_("deprecated"),
    N_("Missing command."),
    N_("Options"),
    N_("Positional arguments"),
    N_("Commands"),
    N_("env var: {var}"),
    N_("default: {default}"),
    N_("required"),
    N_("(dynamic)"),
    N_("Do you want to continue?"),
    N_("Confirm the action without prompting."),
    N_("%(prog)s, version %(version)s"),
    N_("Show the version and exit."),
    N_("Show this message and exit."),
    N_("Missing argument"),
    N_("unknown error"),
    N_("Invalid value for {param_hint}: {message}"),
    N_("Missing option"),
    N_("Could not open file {filename!r}: {message}"),
    N_("Error: {message}"),
    N_("Try '{command} {option}' for help."),
    N_("Missing parameter"),
    N_("Missing parameter: {param_name}"),
    N_("No such option {name!r}."),
    N_("No such command {name!r}."),
    N_("Invalid value: {message}"),
    N_("Missing {param_type}"),
    N_("Usage:"),
    N_("Option {name!r} does not take a value."),
    N_("Argument {name!r} takes {nargs} values."),
    N_("file"),
    N_("Choose from:\n\t{choices}"),
    N_("Choice({choices})"),
    N_("directory"),
    N_("path"),
    N_("{value} is not in the range {range}."),
    N_("{value!r} is not a valid boolean. Recognized values: {states}"),
    N_("{value!r} is not a valid {number_type}."),
    N_("{value!r} is not a valid UUID."),
    N_("{name} {filename!r} is a file."),
    N_("{name} {filename!r} is a directory."),
    N_("{name} {filename!r} is not readable."),
    N_("{name} {filename!r} is not writable."),
    N_("{name} {filename!r} is not executable."),
    N_("{name} {filename!r} does not exist."),
    N_("Repeat for confirmation"),
    N_("Error: The two entered values do not match."),
    N_("Error: invalid input"),
)

CLICK_PLURALS = (
    NP_("Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})"),
    NP_("Takes {nargs} values but 1 was given.", "Takes {nargs} values but {len} were given."),
    NP_("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)"),
    NP_("Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments."),
    NP_("{value!r} is not {choice}.", "{value!r} is not one of {choices}."),
    NP_("{value!r} does not match the format {format}.", "{value!r} does not match the formats {formats}."),
    NP_("{len_type} values are required, but {len_value} was given.", "{len_type} values are required, but {len_value} were given."),
)
