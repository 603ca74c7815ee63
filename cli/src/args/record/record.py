#!/usr/bin/env python3
"""Re-record the qemu-img behaviour table of ../tests.rs.

Usage: record.py cases.txt > rows.txt   (needs the real qemu-img 10.0.2 on PATH)

Each line of cases.txt is a shell-quoted argument vector (without `qemu-img`);
`## text` lines become section comments. Every vector runs in a fresh empty
directory and becomes one `Case` row: `Reject(args, status, stderr, stdout)` when
qemu-img stopped during option processing, `Pass(args)` when it got as far as
opening an image (or printing an option list), `Help(args)` for help screens and
`HelpText(args, stdout)` for other verbatim stdout. Paste the rows into CASES.
"""
import os, shlex, shutil, subprocess, sys, tempfile

# Messages printed only after option processing (image opened, option list, ...).
RUNTIME_ERR = ["Could not open", "Image creation needs a size", "Unknown file format", "does not support",
               "Could not create", "Cannot find device", "force-share=on can only", "Invalid options for file format",
               "unrecognized backing format", "backing format", "No such file", "Backing file", "invalid object type",
               "Unable to read", "Missing 'dir'", "qemu-img: x: "]
RUNTIME_OUT = ["Formatting", "Supported", "Amend options", "required size", "image:"]


def rust_str(s):
    out = '"'
    for ch in s:
        if ch == '\\': out += '\\\\'
        elif ch == '"': out += '\\"'
        elif ch == '\n': out += '\\n'
        elif ch == '\r': out += '\\r'
        elif ch == '\t': out += '\\t'
        elif ord(ch) < 32: out += '\\x%02x' % ord(ch)
        else: out += ch
    return out + '"'


def main(path):
    rows = []
    for line in open(path):
        line = line.rstrip('\n')
        if line.startswith('## '):
            rows.append('    // ' + line[3:])
        if not line.strip() or line.startswith('#'):
            continue
        argv = shlex.split(line)
        d = tempfile.mkdtemp()
        p = subprocess.run(['qemu-img'] + argv, capture_output=True, cwd=d, stdin=subprocess.DEVNULL,
                           env=dict(os.environ, LC_ALL='C'))
        shutil.rmtree(d)
        out = p.stdout.decode('utf-8', 'replace')
        err = p.stderr.decode('utf-8', 'replace')
        args = '&[' + ', '.join(rust_str(a) for a in argv) + ']'
        if p.returncode == 0 and err == '' and 'QEMU disk image utility' in out:
            rows.append(f'    Help({args}),')
        elif (p.returncode == -11 or any(m in err for m in RUNTIME_ERR)
              or any(out.startswith(m) for m in RUNTIME_OUT)
              or (p.returncode == 0 and not out.startswith('Usage:') and not out.startswith('List of')
                  and ' options:\n' not in out[:40])):
            note = err.strip().splitlines()[0][:70] if err.strip() else 'rc=%d' % p.returncode
            rows.append(f'    Pass({args}), // {note}')
        elif p.returncode == 0 and err == '':
            if out.startswith('Usage:'):
                rows.append(f'    Help({args}),')
            else:
                rows.append(f'    HelpText({args}, {rust_str(out)}),')
        else:
            rows.append(f'    Reject({args}, {p.returncode}, {rust_str(err)}, {rust_str(out)}),')
    print('\n'.join(rows))


if __name__ == '__main__':
    main(sys.argv[1])
