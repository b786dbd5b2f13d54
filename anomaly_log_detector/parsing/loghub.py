"""The Loghub systems' header formats as logparser's benchmark writes them (Zhu et al., ICSE'19): the
``--log-format`` strings of the 8 Loghub-2k systems, used by the accuracy benchmark and the tests."""

from __future__ import annotations

# The logparser benchmark's header formats (Zhu et al., ICSE'19), the only per-system input.
LOG_FORMATS: dict[str, str] = {
    "Apache": r"\[<Time>\] \[<Level>\] <Content>",
    "BGL": "<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>",
    "HDFS": "<Date> <Time> <Pid> <Level> <Component>: <Content>",
    "Hadoop": r"<Date> <Time> <Level> \[<Process>\] <Component>: <Content>",
    "Linux": r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>",
    "OpenSSH": r"<Date> <Day> <Time> <Component> sshd\[<Pid>\]: <Content>",
    "Spark": "<Date> <Time> <Level> <Component>: <Content>",
    "Zookeeper": r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>",
}
