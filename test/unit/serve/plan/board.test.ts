import { describe, expect, it } from 'vitest';
import { boardModel, decodeRevision } from '../../../../src/serve/plan/board.js';

// Codes from the Raspberry Pi documentation page "Raspberry Pi revision codes" (table "New-style
// revision codes in use"), with the model, revision and RAM that table gives for each.

describe('decodeRevision', () => {
  it.each([
    ['a02082', 'pi3', 'Raspberry Pi 3 Model B', '1.2', '1GB', 'BCM2837', 'Sony UK'],
    ['a22082', 'pi3', 'Raspberry Pi 3 Model B', '1.2', '1GB', 'BCM2837', 'Embest'],
    ['a020d3', 'pi3b+', 'Raspberry Pi 3 Model B+', '1.3', '1GB', 'BCM2837', 'Sony UK'],
    ['9020e0', 'pi3a+', 'Raspberry Pi 3 Model A+', '1.0', '512MB', 'BCM2837', 'Sony UK'],
    ['902120', 'pi02', 'Raspberry Pi Zero 2 W', '1.0', '512MB', 'BCM2837', 'Sony UK'],
    ['a03111', 'pi4', 'Raspberry Pi 4 Model B', '1.1', '1GB', 'BCM2711', 'Sony UK'],
    ['c03111', 'pi4', 'Raspberry Pi 4 Model B', '1.1', '4GB', 'BCM2711', 'Sony UK'],
    ['d03114', 'pi4', 'Raspberry Pi 4 Model B', '1.4', '8GB', 'BCM2711', 'Sony UK'],
    ['c03130', 'pi400', 'Raspberry Pi 400', '1.0', '4GB', 'BCM2711', 'Sony UK'],
    ['a03140', 'cm4', 'Compute Module 4', '1.0', '1GB', 'BCM2711', 'Sony UK'],
    ['c04170', 'pi5', 'Raspberry Pi 5', '1.0', '4GB', 'BCM2712', 'Sony UK'],
    ['d04170', 'pi5', 'Raspberry Pi 5', '1.0', '8GB', 'BCM2712', 'Sony UK'],
    ['e04171', 'pi5', 'Raspberry Pi 5', '1.1', '16GB', 'BCM2712', 'Sony UK'],
    ['d04180', 'cm5', 'Compute Module 5', '1.0', '8GB', 'BCM2712', 'Sony UK'],
    ['d04190', 'pi500', 'Raspberry Pi 500/500+', '1.0', '8GB', 'BCM2712', 'Sony UK'],
    ['c041a0', 'cm5lite', 'Compute Module 5 Lite', '1.0', '4GB', 'BCM2712', 'Sony UK'],
  ])('%s is a %s', (code, model, name, revision, memory, soc, manufacturer) => {
    expect(decodeRevision(code)).toEqual({ model, name, revision, memory, soc, manufacturer, boardRevision: `00${code}`, source: 'revision' });
  });

  it('takes the 8 digits option 97 carries, in any case, and the high flag bits do not matter', () => {
    expect(decodeRevision('00C03111')).toMatchObject({ model: 'pi4', memory: '4GB', boardRevision: '00c03111' });
    // Bit 31 (overvoltage disallowed) is set in what the firmware mailbox reports on some boards.
    expect(decodeRevision('80c03111')).toMatchObject({ model: 'pi4', memory: '4GB', boardRevision: '80c03111' });
  });

  it('says only what the code says: an unlisted type is unknown, memory "other" is left out', () => {
    expect(decodeRevision('00c041f0')).toEqual({
      model: 'unknown',
      name: 'Raspberry Pi (type 0x1f)',
      revision: '1.0',
      memory: '4GB',
      soc: 'BCM2712',
      manufacturer: 'Sony UK',
      boardRevision: '00c041f0',
      source: 'revision',
    });
    expect(decodeRevision('00f04170')).not.toHaveProperty('memory');
  });

  it('refuses old-style codes (bit 23 clear) and what is not hex', () => {
    expect(decodeRevision('0010')).toBeUndefined();
    expect(decodeRevision('00403111')).toBeUndefined();
    expect(decodeRevision('')).toBeUndefined();
    expect(decodeRevision('zz03111')).toBeUndefined();
    expect(decodeRevision('1c03111ff')).toBeUndefined();
  });
});

describe('boardModel', () => {
  it('decodes the revision code of option 97', () => {
    expect(boardModel({ fourcc: 'RPi5', boardRevision: '00d04170' })).toMatchObject({ model: 'pi5', memory: '8GB', source: 'revision' });
  });

  it('trusts the revision code over the FourCC (a custom DHCP_OPTION97 prefix may be anything)', () => {
    expect(boardModel({ fourcc: 'RPi9', boardRevision: '00c03111' })).toMatchObject({ model: 'pi4' });
  });

  it('without a revision code it knows a Pi, not which: from the FourCC or the OUI', () => {
    expect(boardModel({ fourcc: 'RPi4', boardRevision: '00403111' })).toEqual({
      model: 'unknown',
      name: 'Raspberry Pi',
      boardRevision: '00403111',
      source: 'fourcc',
    });
    expect(boardModel({ piOui: true })).toEqual({ model: 'unknown', name: 'Raspberry Pi', source: 'oui' });
  });

  it('nothing for a client that does not look like a Pi', () => {
    expect(boardModel({})).toBeUndefined();
    expect(boardModel({ piOui: false })).toBeUndefined();
  });
});
