# SPDX-License-Identifier: GPL-2.0-or-later
"""vpcroute test lab: network namespaces, a throwaway PKI, OpenVPN, AWS emulators."""
