"""A foreign Modbus RTU slave for Sluice's tests: Debian's python3-pymodbus (3.0.x API) serving register
tables on a serial port (one end of a socat pty pair). It answers as fast as pymodbus can, with no
turnaround delay, as USB CDC-ACM devices and serial-to-TCP gateways do.

Usage: rtu_slave.py PORT BAUD PARITY(N|E|O) STOPBITS TABLES_JSON
TABLES_JSON: {"<unit>": {"co": {"<addr>": bool}, "di": {...}, "hr": {"<addr>": int}, "ir": {...}}}
Prints `ready` on stdout once the port is open, `served <n>` on stderr for each request it answered.
"""
import asyncio
import json
import logging
import sys

from pymodbus.datastore import ModbusServerContext, ModbusSlaveContext, ModbusSparseDataBlock
from pymodbus.server import StartAsyncSerialServer
from pymodbus.transaction import ModbusRtuFramer


def block(table):
    # A sparse block answers only the addresses it holds: others give ILLEGAL DATA ADDRESS (exception 2).
    return ModbusSparseDataBlock({int(addr): value for addr, value in (table or {}).items()})


async def main():
    port, baud, parity, stopbits, tables = sys.argv[1:6]
    units = {}
    for unit, t in json.loads(tables).items():
        units[int(unit)] = ModbusSlaveContext(
            co=block(t.get("co")),
            di=block(t.get("di")),
            hr=block(t.get("hr")),
            ir=block(t.get("ir")),
            # zero_mode: protocol address 0 is block address 0 (pymodbus 3.0 adds 1 without it).
            zero_mode=True,
        )
    context = ModbusServerContext(slaves=units, single=False)
    served = 0

    def count(response):
        nonlocal served
        served += 1
        print(f"served {served}", file=sys.stderr, flush=True)
        return response, False

    server = await StartAsyncSerialServer(
        context=context,
        framer=ModbusRtuFramer,
        port=port,
        baudrate=int(baud),
        parity=parity,
        stopbits=int(stopbits),
        bytesize=8,
        # Requests to other unit ids get no answer, as on a real bus.
        ignore_missing_slaves=True,
        response_manipulator=count,
        defer_start=True,
    )
    await server.start()
    if server.transport is None:
        print(f"cannot open {port}", file=sys.stderr, flush=True)
        sys.exit(1)
    print("ready", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    asyncio.run(main())
